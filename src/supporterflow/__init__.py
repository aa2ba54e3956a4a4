"""supporterflow: supporter and subscriber data, from where it is created to where it is kept."""

__version__ = "0.1.0"
