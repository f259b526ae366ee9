"""``bulkprov serve``: the HR upload page (see :mod:`bulkprov.web.app`)."""

from bulkprov.web.app import create_app, serve
from bulkprov.web.config import WebConfig, build_config
from bulkprov.web.security import hash_password, read_new_password

__all__ = ["WebConfig", "build_config", "create_app", "hash_password", "read_new_password", "serve"]
