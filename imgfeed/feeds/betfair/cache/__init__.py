"""Caches that fold ESA change messages into immutable market and order books.

A cache is written by one thread (the reader) and read through snapshots: :meth:`book` returns a
frozen record that no later change can alter, so readers never race the writer.
"""
