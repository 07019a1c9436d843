"""The governance report: from outcome tables to a parameter proposal a delegate can post."""
