"""The ground floor: errors, paths, atomic writes, locks, bounded JSON, the torchrun world
and the device, seeding, and provenance (content hashes, package versions). Imports
nothing else of the package."""
