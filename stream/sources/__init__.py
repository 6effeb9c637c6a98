"""livehmr.stream.sources"""
