"""Checkers for the chapters' exercises: each tells the reader whether their own code is right."""
