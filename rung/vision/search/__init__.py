"""rung/vision/search"""
