"""bulkprov: provision users into a Kore.ai XO platform account from spreadsheets."""

__version__ = "0.1.0"
