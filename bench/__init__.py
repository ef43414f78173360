"""Benchmarks of the program, the providers and the real engine (`make bench`); never run by pytest."""
