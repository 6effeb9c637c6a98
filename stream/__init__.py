"""livehmr.stream"""
