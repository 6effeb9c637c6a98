"""livehmr.studio"""
