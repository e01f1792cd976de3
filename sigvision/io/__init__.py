"""Files: :mod:`.artifacts` (atomic writes, folder locks, disk-full handling), :mod:`.runs`
(every path under a run and a prepared folder, and their readers), :mod:`.probs` (probability
files and their sidecars), :mod:`.submission` (competition answer files)."""
