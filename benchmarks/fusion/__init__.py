"""The edit-fusion benchmark: how well the 3D loop fuses inconsistent 2D edits into one consistent scene.

scenes (Blender-rendered scene pairs) · reference_editor (a simulated, inconsistent IP2P with a known target)
· schedules (which views get edited when) · metrics (PSNR/SSIM) · runner (one scene x schedule) · report
(JSON, table, targets) · plot (PNG).
"""
