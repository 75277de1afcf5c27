"""The operator's OSS functions, each a bus subscriber working from the feed alone: fault
management (alarms, root cause), the inventory mirror (impact, N-1), and later performance and
service assurance. Nothing here reads the simulator or its ground truth."""
