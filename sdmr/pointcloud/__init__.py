"""The point-cloud toolkit every classical baseline shares (one copy of each step).

depth + camera → points (`camera`) → support removal (`plane`, `background`) → neighbourhoods
(`neighbours`) → normals and curvature (`normals`) → clusters (`euclidean`, `region_growing`)
→ modal masks (`masks`). Each step is a function on plain arrays, so the baselines in
``baselines/`` are short compositions and another backend (real PCL, ``pcl_backend``) can
replace one step at a time.
"""
