"""livehmr.export"""
