"""Wallet secrets out of text: what a grid tool printed, before it is stored, logged or shown.

tfcmd and grid-client put the operator's mnemonic or seed into some of their error texts
(tfgrid-sdk-go v0.15.14 grid-client `deployer/tf_plugin_client.go`: "failed to get twin for the
given mnemonic/seed %s", "mnemonic/seed '%s' is invalid", "error getting identity using '%s'";
grid-cli `internal/config/config.go`: "could not unmarshal configuration data %s" with the whole
login file). `scrub` replaces anything that looks like one with `[redacted]`:

- a run of 12 or more lowercase words of 3-8 letters (BIP-39 mnemonics are 12, 15, 18, 21 or
  24 such words; a longer run is redacted whole, as the words around a mnemonic may be ours);
- a hex string of 64 or more digits, with or without `0x` (an sr25519/ed25519 seed);
- the value after `mnemonic/seed`, `--mnemonic(s)`, `--seed`, `mnemonic(s)=`, `seed=`, or a JSON
  `"mnemonic(s)": "..."` field.
"""

from __future__ import annotations

import re

REDACTED = "[redacted]"

_WORD_RUN = re.compile(r"(?<![A-Za-z0-9])[a-z]{3,8}(?:[ \t]+[a-z]{3,8}){11,}(?![A-Za-z0-9])")
_HEX_SEED = re.compile(r"(?<![0-9A-Za-z])(?:0x)?[0-9a-fA-F]{64,}(?![0-9A-Za-z])")
_QUOTED_OR_TOKEN = r"(?:'[^'\n]*'|\"(?:[^\"\\\n]|\\.)*\"|[^\s'\":,]+)"
_ARGUMENTS = (
    # "mnemonic/seed <value>: <cause>" and "mnemonic/seed '<value>' is invalid"
    re.compile(r"(mnemonic/seed\s+)(?:'[^'\n]*'|\"[^\"\n]*\"|[^:\n]+)"),
    re.compile(r"(--(?:mnemonics?|seed)(?:=|\s+))" + _QUOTED_OR_TOKEN, re.IGNORECASE),
    re.compile(r"(\"(?:mnemonics?|seed)\"\s*:\s*)\"(?:[^\"\\]|\\.)*\"", re.IGNORECASE),
    re.compile(r"(\b(?:mnemonics?|seed)=)" + _QUOTED_OR_TOKEN, re.IGNORECASE),
)


def scrub(text: str) -> str:
    """`text` with every mnemonic- or seed-looking part replaced by `[redacted]`."""
    if not text:
        return text
    for pattern in _ARGUMENTS:
        text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    text = _HEX_SEED.sub(REDACTED, text)
    return _WORD_RUN.sub(REDACTED, text)
