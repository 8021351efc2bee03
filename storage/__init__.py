"""The lake: hive-partitioned Parquet per dataset, symbol and UTC date, and sample data.

It owns where market data lives on disk and how it is written (atomically,
deterministically, one partition per day), so every reader - the feed, SQL,
the data-quality report - sees the same layout.
"""
