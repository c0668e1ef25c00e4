"""Converters from public RGB-D dataset releases (ScanNet, NYUv2) to the on-disk layout the datasets read."""
