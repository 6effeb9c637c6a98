"""livehmr.tests"""
