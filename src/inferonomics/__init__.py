"""inferonomics: the unit economics of AI inference, from the silicon to the balance sheet.

The package is split along the chain ``catalog -> perf -> cost -> market/decide -> front ends``; import
the sub-packages you need (``inferonomics.perf``, ``inferonomics.cost``).  Nothing heavy is imported here
so that the command line starts instantly.
"""

__version__ = "0.1.0"
