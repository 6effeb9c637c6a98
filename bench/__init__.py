"""livehmr.bench"""
