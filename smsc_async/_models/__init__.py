"""The models, one module per API area; ``smsc_async.models`` loads each on first use."""
