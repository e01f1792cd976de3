"""Writing recordings: synthetic PSG nights driven by real hypnograms, EDF/EDF+ (through
edfio) and WFDB files, and the sample data shipped with sigvision."""
