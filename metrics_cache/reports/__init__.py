"""Reports: visits and loans over any period of closed days, from the rollups."""
