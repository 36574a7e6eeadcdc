"""rung/vision"""
