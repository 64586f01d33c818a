"""adoptwatch: which companies adopt which AI models, from tech news and blogs."""

__version__ = "0.1.0"
