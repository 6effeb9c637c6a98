"""livehmr.clients"""
