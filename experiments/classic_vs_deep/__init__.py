"""Traditional ML on hand-crafted features vs a CNN trained end to end, on digits."""
