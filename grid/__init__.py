"""Deploying on the ThreeFold grid: the Deployer interface and its backends."""
