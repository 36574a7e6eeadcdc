"""rung/tabular"""
