"""Labelled render set for Unposed: procedural people, garments, flat-lays and fabric close-ups.

Extended from ``shared/fixtures/renders/scripts/figure.py`` (the 48 renders in ``assets/renders/``).
All geometry and materials are generated here (self-made, no external assets). Random choices come
from ``random.Random`` seeded by the image's name, so a run is deterministic.

Run inside Blender (test-data tool only, not a run-time dependency)::

    blender -b -P tools/renders/figure.py -- --list                 # print the groups
    blender -b -P tools/renders/figure.py -- --group v01 --out DIR  # render one group (skips done files)

Each image is written as ``DIR/<name>.png`` plus ``DIR/<name>.json`` (its labels); the driver
``tools/renders/build.py`` converts them to JPEGs and ``labels.csv``.

Coordinate convention: a figure stands at the origin facing -Y (towards the camera), up is +Z and
the person's LEFT side is +X. Yaw is a rotation of the figure about +Z: yaw 0 faces the camera and
yaw +90 turns the nose to the image's right (the label convention of ``unpose_core.views``).
"""
import json
import math
import os
import random
import sys
import time

import bmesh
import bpy
from mathutils import Matrix, Vector

ARGV = sys.argv[sys.argv.index('--') + 1:] if '--' in sys.argv else []


def arg(name, default=None):
    """The value after ``name`` on the command line after ``--``."""
    return ARGV[ARGV.index(name) + 1] if name in ARGV else default


OUT = arg('--out', 'out')
GROUP = arg('--group', None)
SAMPLES = int(arg('--samples', 6))
LONG_SIDE = int(arg('--long-side', 512))

V = Vector
X, Y, Z = V((1, 0, 0)), V((0, 1, 0)), V((0, 0, 1))

# ----------------------------------------------------------------- scene ---
bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
scene.render.engine = 'BLENDER_EEVEE'
scene.render.resolution_percentage = 100
scene.render.image_settings.file_format = 'PNG'
scene.render.image_settings.color_mode = 'RGB'
scene.view_settings.view_transform = 'Filmic'
scene.view_settings.look = 'Medium High Contrast'
scene.view_settings.exposure = -0.7
ee = scene.eevee
ee.taa_render_samples = SAMPLES
ee.use_gtao = True
ee.gtao_distance = 0.3
ee.use_soft_shadows = False
ee.shadow_cube_size = '512'
ee.shadow_cascade_size = '1024'
ee.use_ssr = False

world = bpy.data.worlds.new('World')
scene.world = world
world.use_nodes = True
WORLD_BG = world.node_tree.nodes['Background']
WORLD_BG.inputs['Strength'].default_value = 0.9


def make_mat(name, color, rough=0.6, sss=0.0, spec=0.35, bump_scale=None, bump_strength=0.15, sheen=0.0,
             pattern=None):
    """A Principled material; ``pattern`` = (kind, colour2, scale) adds a procedural print.

    kind is 'stripes' (horizontal bands along the object's Z), 'vstripes', 'checks' or 'dots'; the
    pattern uses object coordinates, so it follows the garment when the figure turns.
    """
    m = bpy.data.materials.new(name)
    m.use_nodes = True
    nt = m.node_tree
    b = nt.nodes['Principled BSDF']
    b.inputs['Base Color'].default_value = (*color, 1)
    b.inputs['Roughness'].default_value = rough
    b.inputs['Specular'].default_value = spec
    b.inputs['Sheen'].default_value = sheen
    if sss:
        b.inputs['Subsurface'].default_value = sss
        b.inputs['Subsurface Color'].default_value = (*color, 1)
        b.inputs['Subsurface Radius'].default_value = (1.0, 0.35, 0.2)
    tc = nt.nodes.new('ShaderNodeTexCoord')
    if bump_scale:
        mp = nt.nodes.new('ShaderNodeMapping')
        mp.inputs['Scale'].default_value = bump_scale
        nz = nt.nodes.new('ShaderNodeTexNoise')
        nz.inputs['Scale'].default_value = 1.0
        nz.inputs['Detail'].default_value = 4.0
        bp = nt.nodes.new('ShaderNodeBump')
        bp.inputs['Strength'].default_value = bump_strength
        nt.links.new(tc.outputs['Object'], mp.inputs['Vector'])
        nt.links.new(mp.outputs['Vector'], nz.inputs['Vector'])
        nt.links.new(nz.outputs['Fac'], bp.inputs['Height'])
        nt.links.new(bp.outputs['Normal'], b.inputs['Normal'])
    if pattern:
        kind, color2, scale = pattern
        mix = nt.nodes.new('ShaderNodeMixRGB')
        mix.inputs['Color1'].default_value = (*color, 1)
        mix.inputs['Color2'].default_value = (*color2, 1)
        if kind in ('stripes', 'vstripes'):
            sep = nt.nodes.new('ShaderNodeSeparateXYZ')
            nt.links.new(tc.outputs['Object'], sep.inputs[0])
            mul = nt.nodes.new('ShaderNodeMath')
            mul.operation = 'MULTIPLY'
            mul.inputs[1].default_value = scale
            nt.links.new(sep.outputs['Z' if kind == 'stripes' else 'X'], mul.inputs[0])
            fr = nt.nodes.new('ShaderNodeMath')
            fr.operation = 'FRACT'
            nt.links.new(mul.outputs[0], fr.inputs[0])
            gt = nt.nodes.new('ShaderNodeMath')
            gt.operation = 'GREATER_THAN'
            gt.inputs[1].default_value = 0.55
            nt.links.new(fr.outputs[0], gt.inputs[0])
            nt.links.new(gt.outputs[0], mix.inputs['Fac'])
        elif kind == 'checks':
            ck = nt.nodes.new('ShaderNodeTexChecker')
            ck.inputs['Scale'].default_value = scale
            ck.inputs['Color1'].default_value = (1, 1, 1, 1)
            ck.inputs['Color2'].default_value = (0, 0, 0, 1)
            nt.links.new(tc.outputs['Object'], ck.inputs['Vector'])
            nt.links.new(ck.outputs['Fac'], mix.inputs['Fac'])
        elif kind == 'dots':
            vo = nt.nodes.new('ShaderNodeTexVoronoi')
            vo.inputs['Scale'].default_value = scale
            vo.inputs['Randomness'].default_value = 0.0
            nt.links.new(tc.outputs['Object'], vo.inputs['Vector'])
            lt = nt.nodes.new('ShaderNodeMath')
            lt.operation = 'LESS_THAN'
            lt.inputs[1].default_value = 0.28
            nt.links.new(vo.outputs['Distance'], lt.inputs[0])
            nt.links.new(lt.outputs[0], mix.inputs['Fac'])
        else:
            raise ValueError(kind)
        nt.links.new(mix.outputs['Color'], b.inputs['Base Color'])
    return m


SKINS = {'porcelain': (0.74, 0.50, 0.40), 'light': (0.60, 0.33, 0.22), 'tan': (0.40, 0.21, 0.12),
         'brown': (0.22, 0.11, 0.055), 'deep': (0.10, 0.048, 0.026)}
HAIRS = {'black': (0.02, 0.010, 0.005), 'brown': (0.07, 0.032, 0.014), 'blonde': (0.42, 0.28, 0.11),
         'auburn': (0.22, 0.055, 0.018), 'grey': (0.30, 0.30, 0.30)}
COLOURS = {
    'navy': (0.02, 0.05, 0.22), 'red': (0.45, 0.03, 0.03), 'green': (0.04, 0.20, 0.10),
    'mustard': (0.55, 0.35, 0.05), 'white': (0.75, 0.75, 0.73), 'black': (0.02, 0.02, 0.022),
    'denim': (0.03, 0.06, 0.14), 'khaki': (0.33, 0.25, 0.14), 'charcoal': (0.04, 0.04, 0.045),
    'camel': (0.40, 0.24, 0.10), 'sky': (0.22, 0.40, 0.65), 'pink': (0.70, 0.30, 0.38),
    'grey': (0.25, 0.25, 0.26), 'olive': (0.14, 0.16, 0.04), 'cream': (0.70, 0.62, 0.45),
    'brown': (0.12, 0.05, 0.02), 'burgundy': (0.22, 0.02, 0.05),
}
BACKGROUNDS = {  # world colour, floor colour, wall colour (None: no wall, seamless studio)
    'grey_studio': ((0.62, 0.62, 0.63), (0.55, 0.55, 0.56), None),
    'white_studio': ((0.85, 0.85, 0.85), (0.78, 0.78, 0.78), (0.80, 0.80, 0.80)),
    'beige_wall': ((0.60, 0.58, 0.55), (0.30, 0.22, 0.15), (0.70, 0.60, 0.46)),
    'blue_wall': ((0.55, 0.60, 0.66), (0.45, 0.45, 0.46), (0.30, 0.42, 0.58)),
    'dark_studio': ((0.12, 0.12, 0.13), (0.10, 0.10, 0.11), (0.09, 0.09, 0.10)),
    'pink_wall': ((0.70, 0.62, 0.62), (0.60, 0.58, 0.57), (0.75, 0.52, 0.55)),
    'sage_wall': ((0.58, 0.62, 0.58), (0.40, 0.34, 0.28), (0.45, 0.55, 0.45)),
}
SURFACES = {  # flat-lay surfaces: colour, wood grain?
    'white_board': ((0.80, 0.80, 0.79), False), 'oak': ((0.45, 0.28, 0.13), True),
    'grey_linen': ((0.45, 0.45, 0.44), False), 'walnut': ((0.16, 0.08, 0.04), True),
    'pale_pink': ((0.78, 0.62, 0.60), False),
}

MATS = {}


def mat(key, factory):
    """A cached material: ``factory`` makes it the first time ``key`` is asked for."""
    if key not in MATS:
        MATS[key] = factory()
    return MATS[key]


def skin_mat(tone):
    return mat('skin_' + tone, lambda: make_mat('skin_' + tone, SKINS[tone], rough=0.5, sss=0.15, spec=0.4,
                                                bump_scale=(300, 300, 300), bump_strength=0.03))


def hair_mat(colour):
    return mat('hair_' + colour, lambda: make_mat('hair_' + colour, HAIRS[colour], rough=0.5, spec=0.3,
                                                  bump_scale=(600, 600, 80), bump_strength=0.2))


def cloth_mat(spec):
    """spec = (colour, pattern, colour2, scale); pattern in solid/stripes/vstripes/checks/dots."""
    colour, pattern, colour2, scale = spec
    key = 'cloth_' + '_'.join(str(s) for s in spec)
    pat = None if pattern == 'solid' else (pattern, COLOURS[colour2], scale)
    return mat(key, lambda: make_mat(key, COLOURS[colour], rough=0.85, spec=0.2, sheen=0.4,
                                     bump_scale=(500, 500, 500), bump_strength=0.08, pattern=pat))


def plain_mat(name, color, rough=0.6, spec=0.35):
    return mat(name, lambda: make_mat(name, color, rough=rough, spec=spec))


def wood_mat(name, color):
    def make():
        m = make_mat(name, color, rough=0.55, spec=0.3)
        nt = m.node_tree
        b = nt.nodes['Principled BSDF']
        tc = nt.nodes.new('ShaderNodeTexCoord')
        wv = nt.nodes.new('ShaderNodeTexWave')
        wv.wave_type = 'BANDS'
        wv.bands_direction = 'Y'
        wv.inputs['Scale'].default_value = 6.0
        wv.inputs['Distortion'].default_value = 6.0
        wv.inputs['Detail'].default_value = 3.0
        nt.links.new(tc.outputs['Object'], wv.inputs['Vector'])
        mix = nt.nodes.new('ShaderNodeMixRGB')
        mix.inputs['Color1'].default_value = (*color, 1)
        mix.inputs['Color2'].default_value = (color[0] * 0.6, color[1] * 0.6, color[2] * 0.6, 1)
        nt.links.new(wv.outputs['Fac'], mix.inputs['Fac'])
        nt.links.new(mix.outputs['Color'], b.inputs['Base Color'])
        return m
    return mat(name, make)


FIXED = {
    'lips': make_mat('lips', (0.42, 0.13, 0.11), rough=0.4),
    'sclera': make_mat('sclera', (0.80, 0.78, 0.74), rough=0.2),
    'iris': make_mat('iris', (0.04, 0.025, 0.015), rough=0.1),
    'brow': make_mat('brow', (0.03, 0.018, 0.01), rough=0.8),
    'sole': make_mat('sole', (0.75, 0.75, 0.73), rough=0.6),
    'metal': make_mat('metal', (0.55, 0.55, 0.56), rough=0.3, spec=0.6),
}

# floor and (optional) back wall
bpy.ops.mesh.primitive_plane_add(size=40, location=(0, 6, 0))
FLOOR = bpy.context.active_object
FLOOR.data.materials.append(plain_mat('floor', (0.55, 0.55, 0.56), rough=0.9, spec=0.1))
bpy.ops.mesh.primitive_plane_add(size=30, location=(0, 2.5, 6), rotation=(math.radians(90), 0, 0))
WALL = bpy.context.active_object
WALL.data.materials.append(plain_mat('wall', (0.7, 0.7, 0.7), rough=0.95, spec=0.1))


def add_area(name, energy, size):
    ld = bpy.data.lights.new(name, 'AREA')
    ld.energy = energy
    ld.size = size
    ob = bpy.data.objects.new(name, ld)
    scene.collection.objects.link(ob)
    return ob


LIGHTS = {'key': add_area('key', 1500, 2.5), 'fill': add_area('fill', 500, 3.0), 'rim': add_area('rim', 700, 2.0)}


def aim(ob, loc, target):
    ob.location = V(loc)
    ob.rotation_euler = (V(target) - V(loc)).to_track_quat('-Z', 'Y').to_euler()


def set_lights(rng, target, scale=1.0, top_down=False):
    """Studio lights around ``target`` with a random key direction and strength; returns a label."""
    t = V(target)
    a = math.radians(rng.uniform(-35, 55))          # key light azimuth, 0 = front-left as in the original
    k = rng.uniform(0.6, 1.35)
    f = rng.uniform(0.25, 1.0)
    if top_down:
        aim(LIGHTS['key'], t + V((-1.8 * math.cos(a), -1.5 * math.sin(a) - 0.8, 3.2)) * scale, t)
        aim(LIGHTS['fill'], t + V((2.0, 0.6, 2.8)) * scale, t)
        aim(LIGHTS['rim'], t + V((0.3, 2.0, 3.0)) * scale, t)
    else:
        c, s = math.cos(a), math.sin(a)
        aim(LIGHTS['key'], t + V((-2.6 * c + 3.6 * s, -3.6 * c - 2.6 * s, 2.5)) * scale, t)
        aim(LIGHTS['fill'], t + V((3.2, -3.0, 0.9)) * scale, t)
        aim(LIGHTS['rim'], t + V((1.0, 3.5, 2.0)) * scale, t)
    LIGHTS['key'].data.energy = 1500 * k * scale * scale
    LIGHTS['fill'].data.energy = 500 * f * scale * scale
    LIGHTS['rim'].data.energy = 700 * rng.uniform(0.3, 1.2) * scale * scale
    return f'key{round(math.degrees(a)):+d}_x{k:.2f}_fill{f:.2f}'


def set_background(name):
    wc, fc, wallc = BACKGROUNDS[name]
    WORLD_BG.inputs['Color'].default_value = (*wc, 1)
    FLOOR.hide_render = False
    FLOOR.data.materials[0] = plain_mat('floor_' + name, fc, rough=0.9, spec=0.1)
    WALL.hide_render = wallc is None
    if wallc is not None:
        WALL.data.materials[0] = plain_mat('wall_' + name, wallc, rough=0.95, spec=0.1)


cam_data = bpy.data.cameras.new('cam')
cam_data.sensor_fit = 'VERTICAL'
cam_data.sensor_height = 24
cam = bpy.data.objects.new('cam', cam_data)
scene.collection.objects.link(cam)
scene.camera = cam

# ---------------------------------------------------------- mesh helpers ---
ROOTS = []
for _i in range(2):
    _r = bpy.data.objects.new(f'Figure{_i}', None)
    scene.collection.objects.link(_r)
    ROOTS.append(_r)
PROPS = bpy.data.objects.new('Props', None)
scene.collection.objects.link(PROPS)
PARENT = [ROOTS[0]]   # parent of the meshes being made


def clear(root):
    """Delete everything parented (directly or not) to ``root``."""
    for ob in list(root.children_recursive):
        bpy.data.objects.remove(ob, do_unlink=True)


def finish(name, bm, material, subsurf=1, smooth=True, solidify=0.0):
    bmesh.ops.recalc_face_normals(bm, faces=bm.faces)
    me = bpy.data.meshes.new(name)
    bm.to_mesh(me)
    bm.free()
    if smooth:
        me.polygons.foreach_set('use_smooth', [True] * len(me.polygons))
    ob = bpy.data.objects.new(name, me)
    scene.collection.objects.link(ob)
    ob.data.materials.append(material)
    ob.parent = PARENT[0]
    if solidify:
        mo = ob.modifiers.new('solid', 'SOLIDIFY')
        mo.thickness = solidify
        mo.offset = -1
    if subsurf:
        mo = ob.modifiers.new('sub', 'SUBSURF')
        mo.levels = subsurf
        mo.render_levels = subsurf
    return ob


def frame_for(t, side):
    ax = side - t * side.dot(t)
    if ax.length < 1e-4:
        alt = Y if abs(t.dot(Y)) < 0.9 else X
        ax = alt - t * alt.dot(t)
    ax.normalize()
    ay = t.cross(ax).normalized()
    return ax, ay


def tube(name, pts, rads, material, side=X, segs=20, cap0=True, cap1=True, capscale=1.0, subsurf=1):
    """Generalised cylinder through pts with elliptical sections (rx along `side`, ry perpendicular)
    and rounded end caps (an uncapped end is left open)."""
    pts = [V(p) for p in pts]
    n = len(pts)
    tans = [(pts[min(i + 1, n - 1)] - pts[max(i - 1, 0)]).normalized() for i in range(n)]
    bm = bmesh.new()

    def ring(c, ax, ay, rx, ry):
        return [bm.verts.new(c + ax * (rx * math.cos(2 * math.pi * k / segs))
                             + ay * (ry * math.sin(2 * math.pi * k / segs)))
                for k in range(segs)]
    frames = [frame_for(t, side) for t in tans]
    rings = []
    pole0 = pole1 = None
    angles = (70, 45, 20)
    if cap0:
        c, t, (ax, ay), (rx, ry) = pts[0], -tans[0], frames[0], rads[0]
        d = min(rx, ry) * capscale
        pole0 = bm.verts.new(c + t * d)
        for th in angles:
            s = math.radians(th)
            rings.append(ring(c + t * d * math.sin(s), ax, ay, rx * math.cos(s), ry * math.cos(s)))
    for p, (ax, ay), (rx, ry) in zip(pts, frames, rads):
        rings.append(ring(p, ax, ay, rx, ry))
    if cap1:
        c, t, (ax, ay), (rx, ry) = pts[-1], tans[-1], frames[-1], rads[-1]
        d = min(rx, ry) * capscale
        for th in reversed(angles):
            s = math.radians(th)
            rings.append(ring(c + t * d * math.sin(s), ax, ay, rx * math.cos(s), ry * math.cos(s)))
        pole1 = bm.verts.new(c + t * d)
    for r0, r1 in zip(rings[:-1], rings[1:]):
        for k in range(segs):
            j = (k + 1) % segs
            bm.faces.new((r0[k], r0[j], r1[j], r1[k]))
    if pole0 is not None:
        r = rings[0]
        for k in range(segs):
            bm.faces.new((pole0, r[(k + 1) % segs], r[k]))
    if pole1 is not None:
        r = rings[-1]
        for k in range(segs):
            bm.faces.new((pole1, r[k], r[(k + 1) % segs]))
    return finish(name, bm, material, subsurf=subsurf)


def limb(name, a, b, r0, r1, material, n=6, side=X, extend0=0.0, extend1=0.0, mid=None, **kw):
    """Straight tube from a to b, radius blending r0 -> (mid) -> r1."""
    a, b = V(a), V(b)
    d = (b - a).normalized()
    a = a - d * extend0
    b = b + d * extend1
    pts, rads = [], []
    for i in range(n + 1):
        f = i / n
        p = a.lerp(b, f)
        if mid is None:
            rx = r0[0] + (r1[0] - r0[0]) * f
            ry = r0[1] + (r1[1] - r0[1]) * f
        else:  # quadratic through mid at f=0.5
            def q(v0, vm, v1, f=f):
                return (1 - f) * (1 - 2 * f) * v0 + 4 * f * (1 - f) * vm + f * (2 * f - 1) * v1
            rx, ry = q(r0[0], mid[0], r1[0]), q(r0[1], mid[1], r1[1])
        pts.append(p)
        rads.append((rx, ry))
    return tube(name, pts, rads, material, side=side, **kw)


def ellipsoid(name, center, axes, material, u=24, v=16, subsurf=1, deform=None, keep=None, solidify=0.0):
    """axes: three vectors (already scaled). deform(u,v,w)->(u,v,w) in unit space.
    keep(u,v,w)->bool removes vertices where False."""
    bm = bmesh.new()
    bmesh.ops.create_uvsphere(bm, u_segments=u, v_segments=v, radius=1.0)
    c = V(center)
    if keep is not None:
        dead = [vt for vt in bm.verts if not keep(*vt.co)]
        bmesh.ops.delete(bm, geom=dead, context='VERTS')
    for vt in bm.verts:
        uu, vv, ww = vt.co
        if deform:
            uu, vv, ww = deform(uu, vv, ww)
        vt.co = c + axes[0] * uu + axes[1] * vv + axes[2] * ww
    return finish(name, bm, material, subsurf=subsurf, solidify=solidify)


# ----------------------------------------------------------------- poses ---
POSES = {
    'relaxed': {'l_abd': 9, 'r_abd': 9, 'l_flex': 0, 'r_flex': 0, 'l_elb': 12, 'r_elb': 12,
                'l_hip_abd': 3, 'r_hip_abd': 3},
    'apose': {'l_abd': 28, 'r_abd': 28, 'l_elb': 6, 'r_elb': 6, 'l_hip_abd': 7, 'r_hip_abd': 7},
    'walk': {'l_abd': 7, 'r_abd': 7, 'l_flex': -14, 'r_flex': 16, 'l_elb': 10, 'r_elb': 25,
             'l_hip_flex': 18, 'r_hip_flex': -14, 'l_knee': 5, 'r_knee': 14, 'l_hip_abd': 2, 'r_hip_abd': 2},
    'handonhip': {'l_abd': 45, 'r_abd': 10, 'l_flex': -8, 'l_elb': 85, 'l_elb_mode': 'in', 'r_elb': 10,
                  'l_hip_abd': 4, 'r_hip_abd': 8},
    'step': {'l_abd': 12, 'r_abd': 6, 'l_flex': 8, 'r_flex': -6, 'l_elb': 30, 'r_elb': 8,
             'l_hip_flex': 6, 'r_hip_flex': 0, 'l_knee': 22, 'r_knee': 0, 'l_hip_abd': 6, 'r_hip_abd': 2},
    'armsfront': {'l_abd': 14, 'r_abd': 14, 'l_flex': 30, 'r_flex': 30, 'l_elb': 75, 'r_elb': 75,
                  'l_elb_mode': 'in', 'r_elb_mode': 'in', 'l_hip_abd': 4, 'r_hip_abd': 4},
    'wide': {'l_abd': 20, 'r_abd': 20, 'l_elb': 18, 'r_elb': 18, 'l_hip_abd': 11, 'r_hip_abd': 11},
    'wave': {'l_abd': 8, 'r_abd': 125, 'r_flex': 10, 'l_elb': 10, 'r_elb': 40, 'r_elb_mode': 'in',
             'l_hip_abd': 3, 'r_hip_abd': 5, 'l_knee': 8, 'l_hip_flex': 4},
}


def arm_chain(side, p):
    s = 1 if side == 'l' else -1
    abd = math.radians(p.get(side + '_abd', 8))
    flex = math.radians(p.get(side + '_flex', 0))
    elb = math.radians(p.get(side + '_elb', 10))
    mode = p.get(side + '_elb_mode', 'fwd')
    sh = V((s * 0.178, 0.005, 1.405))
    d1 = V((s * math.sin(abd) * math.cos(flex), -math.sin(flex), -math.cos(abd) * math.cos(flex))).normalized()
    el = sh + d1 * 0.29
    ref = V((0, -1, 0)) if mode == 'fwd' else V((-s, -0.25, 0))
    perp = (ref - d1 * ref.dot(d1)).normalized()
    d2 = (d1 * math.cos(elb) + perp * math.sin(elb)).normalized()
    wr = el + d2 * 0.255
    return sh, el, wr, d2


def leg_chain(side, p):
    s = 1 if side == 'l' else -1
    abd = math.radians(p.get(side + '_hip_abd', 3))
    flex = math.radians(p.get(side + '_hip_flex', 0))
    kn = math.radians(p.get(side + '_knee', 0))
    hp = V((s * 0.092, 0.0, 0.93))
    d1 = V((s * math.sin(abd), -math.sin(flex) * math.cos(abd), -math.cos(flex) * math.cos(abd))).normalized()
    ke = hp + d1 * 0.43
    back = (Y - d1 * Y.dot(d1)).normalized()
    d2 = (d1 * math.cos(kn) + back * math.sin(kn)).normalized()
    an = ke + d2 * 0.43
    return hp, ke, an, d2


TORSO = [(0.95, 0.182, 0.122, 0.004), (1.00, 0.172, 0.116, 0.002), (1.08, 0.162, 0.110, 0.0),
         (1.18, 0.166, 0.115, -0.006), (1.28, 0.174, 0.122, -0.010), (1.36, 0.182, 0.117, -0.004),
         (1.41, 0.188, 0.104, 0.004), (1.445, 0.165, 0.090, 0.008), (1.47, 0.110, 0.072, 0.010),
         (1.49, 0.068, 0.062, 0.012)]


def build_figure(root, person, outfit, pose_name, parts=('body', 'top', 'bottom', 'outer')):
    """Build a figure under ``root``.

    person: dict(build=(sx, sy, sz), hips=float, skin=str, hair=(style, colour), shoes=colour)
    outfit: dict(top='tshirt'|'longsleeve'|'dress'|'sleeveless_dress', bottom='trousers'|'shorts'|'skirt'|None,
                 outer=None|'jacket'|'coat', top_cloth, bottom_cloth, outer_cloth = cloth specs)
    parts: which parts to build; without 'body' it is an invisible-mannequin product shot.
    """
    clear(root)
    PARENT[0] = root
    sx, sy, sz = person['build']
    root.scale = (sx, sy, sz)
    hips = person.get('hips', 1.0)
    p = POSES[pose_name]
    body = 'body' in parts
    msk = skin_mat(person['skin'])
    top, bottom, outer = outfit['top'], outfit.get('bottom'), outfit.get('outer')
    mtop = cloth_mat(outfit['top_cloth'])
    mbot = cloth_mat(outfit['bottom_cloth']) if bottom else mtop
    mout = cloth_mat(outfit['outer_cloth']) if outer else None
    msh = plain_mat('shoe_' + person['shoes'], COLOURS[person['shoes']], rough=0.5, spec=0.4)
    dress = top in ('dress', 'sleeveless_dress')
    want_top, want_bot, want_out = 'top' in parts, 'bottom' in parts and bottom, 'outer' in parts and outer

    legs = {sd: leg_chain(sd, p) for sd in 'lr'}
    feet = {}
    lowest = 1e9
    for sd, (_hp, _ke, an, d2) in legs.items():
        s = 1 if sd == 'l' else -1
        up = -d2
        fw0 = V((s * math.sin(math.radians(8)), -math.cos(math.radians(8)), 0))
        fw = (fw0 - up * fw0.dot(up)).normalized()
        lat = fw.cross(up).normalized()
        feet[sd] = (an, fw, up, lat)
        for f in (0.0, 0.19, -0.06):
            lowest = min(lowest, (an + fw * f + up * -0.075).z)
    dz = -lowest
    off = V((0, 0, dz))

    # ---- legs, shoes
    for sd, (hp, ke, an, _d2) in legs.items():
        hp, ke, an = hp + off, ke + off, an + off
        if bottom == 'trousers':
            if want_bot:
                limb('thigh_' + sd, hp, ke, (0.090 * hips, 0.092), (0.064, 0.066), mbot, n=8,
                     mid=(0.079, 0.081), extend0=0.06)
                ellipsoid('knee_' + sd, ke, (X * 0.064, Y * 0.066, Z * 0.066), mbot, u=16, v=10)
                limb('shin_' + sd, ke, an, (0.064, 0.066), (0.056, 0.058), mbot, n=6, mid=(0.060, 0.063),
                     extend1=0.02, cap1=True)
        else:
            if body:
                limb('thigh_' + sd, hp, ke, (0.082 * hips, 0.084), (0.056, 0.058), msk, n=8, mid=(0.071, 0.073),
                     extend0=0.06)
                ellipsoid('knee_' + sd, ke, (X * 0.056, Y * 0.058, Z * 0.060), msk, u=16, v=10)
                limb('shin_' + sd, ke, an, (0.055, 0.057), (0.038, 0.040), msk, n=6, mid=(0.050, 0.054),
                     extend1=0.02)
            if bottom == 'shorts' and want_bot:
                limb('shorts_' + sd, hp, hp.lerp(ke, 0.5), (0.098 * hips, 0.100), (0.085, 0.087), mbot, n=4,
                     extend0=0.06, capscale=0.2)
        if body:
            a, fw, up, lat = feet[sd]
            a = a + off

            def fp(f, h, a=a, fw=fw, up=up):
                return a + fw * f + up * (h - 0.075)
            shoe_pts = [fp(-0.055, 0.050), fp(-0.035, 0.052), fp(0.02, 0.048), fp(0.08, 0.040), fp(0.13, 0.033),
                        fp(0.175, 0.027)]
            shoe_r = [(0.036, 0.046), (0.042, 0.050), (0.046, 0.047), (0.050, 0.038), (0.047, 0.031),
                      (0.036, 0.024)]
            tube('shoe_' + sd, shoe_pts, shoe_r, msh, side=lat, segs=20, capscale=0.7)
            sole_pts = [fp(-0.06, 0.012), fp(0.0, 0.012), fp(0.10, 0.012), fp(0.18, 0.012)]
            tube('sole_' + sd, sole_pts, [(0.040, 0.013), (0.046, 0.013), (0.053, 0.013), (0.042, 0.012)],
                 FIXED['sole'], side=lat, segs=20, capscale=1.0)
            limb('ankle_' + sd, fp(0.0, 0.06), fp(0.0, 0.13), (0.036, 0.036), (0.040, 0.040), msk, n=2)

    # ---- pelvis
    pel = [(0.80, 0.150, 0.100, 0.0), (0.86, 0.170, 0.112, 0.008), (0.93, 0.178, 0.116, 0.010),
           (1.00, 0.168, 0.108, 0.004), (1.05, 0.160, 0.104, 0.0)]
    pel_mat = mbot if bottom in ('trousers', 'shorts') else msk
    if (bottom in ('trousers', 'shorts') and want_bot) or (bottom not in ('trousers', 'shorts') and body):
        tube('pelvis', [V((0, yo, z + dz)) for z, rx, ry, yo in pel], [(rx * hips, ry) for z, rx, ry, yo in pel],
             pel_mat, segs=28, capscale=0.6)
    if bottom in ('trousers', 'shorts') and want_bot:
        tube('belt', [V((0, 0.004, 1.015 + dz)), V((0, 0.004, 1.045 + dz))], [(0.166 * hips, 0.109)] * 2,
             FIXED['brow'], segs=28, capscale=0.3)
    # skirt (own garment, or the lower part of a dress)
    if (bottom == 'skirt' and want_bot) or (dress and want_top):
        hem = 0.42 if dress else 0.55
        sk = [(1.04, 0.166, 0.110), (0.96, 0.182, 0.122), (0.86, 0.200, 0.140), (0.72, 0.225, 0.175),
              (0.60, 0.245, 0.200), (hem, 0.262 + (0.55 - hem) * 0.25, 0.215 + (0.55 - hem) * 0.2)]
        tube('skirt', [V((0, 0.006, z + dz)) for z, rx, ry in sk], [(rx * hips, ry) for z, rx, ry in sk],
             mtop if dress else mbot, segs=32, capscale=0.3, cap1=False)

    # ---- torso
    tor = [(z, rx * (1 + (hips - 1) * max(0.0, (1.1 - z) / 0.15)), ry, yo) for z, rx, ry, yo in TORSO]
    if want_top:
        tube('torso', [V((0, yo, z + dz)) for z, rx, ry, yo in tor], [(rx, ry) for z, rx, ry, yo in tor],
             mtop, segs=32, capscale=0.3)
    elif body:
        tube('torso', [V((0, yo, z + dz)) for z, rx, ry, yo in tor], [(rx * 0.97, ry * 0.97) for z, rx, ry, yo in tor],
             msk, segs=32, capscale=0.3)
    if want_out:
        z0 = 0.55 if outer == 'coat' else 0.86
        ot = [(z0, 0.215 if outer == 'coat' else 0.195, 0.165 if outer == 'coat' else 0.135, 0.004)]
        if outer == 'coat':
            ot.append((0.72, 0.205, 0.150, 0.004))
        ot += [(z, rx * 1.06 + 0.012, ry * 1.06 + 0.014, yo) for z, rx, ry, yo in tor[:-1]]
        tube('outer', [V((0, yo, z + dz)) for z, rx, ry, yo in ot], [(rx, ry) for z, rx, ry, yo in ot],
             mout, segs=32, capscale=0.3, cap0=False)
        # open front: the shirt shows in a V, plus buttons
        ellipsoid('placket', V((0, -0.138, 1.23 + dz)), (X * 0.036, Y * 0.012, Z * 0.20), mtop, u=16, v=12)
        for i in range(3):
            zb = 1.12 - i * 0.11 if outer == 'jacket' else 1.12 - i * 0.16
            ellipsoid('button', V((-0.055, -0.143 if zb > 0.9 else -0.16, zb + dz)),
                      (X * 0.011, Y * 0.005, Z * 0.011), FIXED['brow'], u=10, v=8, subsurf=0)

    # ---- neck and head
    hc = V((0, -0.004, 1.63 + dz))
    hr = (0.079, 0.099, 0.115)

    def head_def(u, v, w):
        lo = max(0.0, -w)
        u2 = u * (1 - 0.30 * lo ** 1.6)
        if v > 0:
            v2 = v * (1 - 0.30 * lo ** 1.4)
        else:
            v2 = v * (1 - 0.08 * lo) - 0.08 * max(0.0, -w - 0.55)
        return u2, v2, w
    hax = (X * hr[0], Y * hr[1], Z * hr[2])
    if body:
        limb('neck', V((0, 0.014, 1.43 + dz)), V((0, 0.006, 1.58 + dz)), (0.062, 0.058), (0.058, 0.055), msk, n=4)
        ellipsoid('head', hc, hax, msk, u=32, v=24, deform=head_def)

        def surf(u, w):  # point on the face surface (front, -Y) at unit coords u, w
            vv = -math.sqrt(max(0.0, 1 - u * u - w * w))
            uu, vv, ww = head_def(u, vv, w)
            return hc + X * (uu * hr[0]) + Y * (vv * hr[1]) + Z * (ww * hr[2])

        for s in (1, -1):
            e = surf(0.40 * s, 0.04)
            ellipsoid('eye', e + V((0, 0.0065, 0)), (X * 0.0125, Y * 0.0105, Z * 0.0085), FIXED['sclera'], u=16, v=10)
            ellipsoid('iris', e + V((0, -0.0025, 0)), (X * 0.0058, Y * 0.002, Z * 0.0058), FIXED['iris'], u=12, v=8)
            b = surf(0.40 * s, 0.26)
            ax = (X * 0.95 + Z * (-0.15 * s)).normalized()
            ellipsoid('brow', b + V((0, 0.001, 0)), (ax * 0.019, Y * 0.004, Z * 0.0042), FIXED['brow'], u=12, v=8)
            ellipsoid('ear', hc + V((s * hr[0] * 0.97, 0.008, -0.008)), (X * 0.010, Y * 0.020, Z * 0.031),
                      msk, u=14, v=10)
        n0 = surf(0.0, -0.16)
        ellipsoid('nose', n0 + V((0, -0.004, 0.004)),
                  (X * 0.0115, (Y * 0.95 + Z * 0.3).normalized() * 0.016, (Z * 0.95 - Y * 0.3).normalized() * 0.03),
                  msk, u=16, v=12)
        lp = surf(0.0, -0.47)
        ellipsoid('lips', lp + V((0, 0.002, 0)), (X * 0.022, Y * 0.0075, Z * 0.0065), FIXED['lips'], u=16, v=10)

        style, hcol = person['hair']
        mh = hair_mat(hcol)

        def hair_keep(u, v, w):
            return w > 0.50 - (v + 1) / 2 * 1.15

        def hair_def(u, v, w):
            u2, v2, w2 = head_def(u, v, w)
            k = 1.075 + 0.03 * max(0.0, w)
            return u2 * k, v2 * k + 0.004, w2 * k + 0.006
        ellipsoid('hair', hc, hax, mh, u=32, v=24, deform=hair_def, keep=hair_keep, solidify=0.012)
        if style == 'long':
            tube('hair_long', [hc + V((0, 0.03, 0.06)), hc + V((0, 0.05, -0.05)), hc + V((0, 0.06, -0.16)),
                               hc + V((0, 0.07, -0.27))],
                 [(0.088, 0.085), (0.094, 0.075), (0.105, 0.05), (0.11, 0.03)], mh, segs=24, capscale=0.3)
            for s in (1, -1):
                limb('strand', hc + V((s * 0.080, -0.01, 0.05)), hc + V((s * 0.095, 0.02, -0.20)),
                     (0.022, 0.03), (0.03, 0.02), mh, n=3, segs=12)
        elif style == 'bun':
            ellipsoid('bun', hc + V((0, 0.10, 0.07)), (X * 0.048, Y * 0.045, Z * 0.045), mh, u=16, v=12)

    # ---- arms
    sleeves = 'long' if top == 'longsleeve' else ('none' if top == 'sleeveless_dress' else 'short')
    for sd in 'lr':
        s = 1 if sd == 'l' else -1
        sh, el, wr, d2 = arm_chain(sd, p)
        sh, el, wr = sh + off, el + off, wr + off
        d1 = (el - sh).normalized()
        if body:
            limb('uarm_' + sd, sh + d1 * 0.07, el, (0.045, 0.046), (0.039, 0.040), msk, n=6)
            ellipsoid('elbow_' + sd, el, (X * 0.039, Y * 0.039, Z * 0.039), msk, u=14, v=10)
            limb('farm_' + sd, el, wr, (0.040, 0.042), (0.027, 0.023), msk, n=6, mid=(0.037, 0.036), side=Y)
            wdt = (Y - d2 * Y.dot(d2))
            if wdt.length < 1e-3:
                wdt = X - d2 * X.dot(d2)
            wdt.normalize()
            thk = d2.cross(wdt).normalized()
            ellipsoid('palm_' + sd, wr + d2 * 0.045, (wdt * 0.040, thk * 0.017, d2 * 0.055), msk, u=16, v=12)
            ellipsoid('fingers_' + sd, wr + d2 * 0.115, (wdt * 0.036, thk * 0.013, d2 * 0.048), msk, u=16, v=12)
            tb0 = wr + d2 * 0.03 - wdt * 0.032
            tb1 = tb0 + (d2 * 0.8 - wdt * 0.35).normalized() * 0.06
            limb('thumb_' + sd, tb0, tb1, (0.012, 0.012), (0.009, 0.009), msk, n=3, segs=12)
            if sleeves == 'none' or not want_top:
                ellipsoid('deltoid_' + sd, sh + V((-s * 0.012, 0, 0.0)), (X * 0.055, Y * 0.056, Z * 0.054),
                          msk, u=16, v=12)
        if want_top and sleeves != 'none':
            ellipsoid('deltoid_' + sd, sh + V((-s * 0.012, 0, 0.0)), (X * 0.062, Y * 0.063, Z * 0.060),
                      mtop, u=16, v=12)
            if sleeves == 'short':
                limb('sleeve_' + sd, sh - d1 * 0.02, sh + d1 * 0.16, (0.060, 0.061), (0.056, 0.056), mtop, n=4,
                     cap1=True, capscale=0.25)
            else:
                limb('sleeve_' + sd, sh - d1 * 0.02, el, (0.060, 0.061), (0.052, 0.052), mtop, n=5)
                ellipsoid('sleeve_elbow_' + sd, el, (X * 0.052, Y * 0.052, Z * 0.052), mtop, u=14, v=10)
                limb('cuff_' + sd, el, wr - d2 * 0.005, (0.052, 0.052), (0.038, 0.036), mtop, n=5, side=Y,
                     capscale=0.3)
        if want_out:
            ellipsoid('odeltoid_' + sd, sh + V((-s * 0.012, 0, 0.0)), (X * 0.074, Y * 0.075, Z * 0.072),
                      mout, u=16, v=12)
            limb('osleeve_' + sd, sh - d1 * 0.02, el, (0.072, 0.073), (0.064, 0.064), mout, n=5)
            ellipsoid('oelbow_' + sd, el, (X * 0.064, Y * 0.064, Z * 0.064), mout, u=14, v=10)
            limb('ocuff_' + sd, el, wr - d2 * 0.02, (0.064, 0.064), (0.050, 0.048), mout, n=5, side=Y, capscale=0.3)


# ------------------------------------------------------------- flat-lays ---
def mirror(half):
    """Closed outline from a right half (x >= 0) listed from the top centre down to the bottom centre."""
    left = [(-x, z) for x, z in reversed(half) if x > 1e-6]
    return list(half) + left


OUTLINES = {  # half outlines (x, z) in metres, garment upright, centre at the origin
    'tshirt': [(0, 0.27), (0.08, 0.31), (0.18, 0.29), (0.34, 0.16), (0.27, 0.06), (0.20, 0.13), (0.21, -0.38),
               (0, -0.38)],
    'longsleeve': [(0, 0.27), (0.08, 0.31), (0.18, 0.29), (0.50, -0.22), (0.43, -0.27), (0.20, 0.10),
                   (0.21, -0.38), (0, -0.38)],
    'dress': [(0, 0.40), (0.08, 0.46), (0.17, 0.44), (0.30, 0.33), (0.24, 0.24), (0.17, 0.30), (0.15, 0.05),
              (0.32, -0.55), (0, -0.57)],
    'sleeveless_dress': [(0, 0.40), (0.07, 0.46), (0.12, 0.46), (0.16, 0.28), (0.14, 0.05), (0.32, -0.55),
                         (0, -0.57)],
    'skirt': [(0, 0.25), (0.17, 0.25), (0.33, -0.30), (0, -0.32)],
    'trousers': [(0, 0.50), (0.21, 0.50), (0.23, 0.30), (0.22, -0.50), (0.04, -0.50), (0.02, 0.16), (0, 0.16)],
    'shorts': [(0, 0.24), (0.21, 0.24), (0.25, -0.06), (0.04, -0.08), (0.0, 0.04)],
    'jacket': [(0, 0.25), (0.09, 0.31), (0.20, 0.29), (0.52, -0.24), (0.44, -0.30), (0.22, 0.08), (0.23, -0.42),
               (0, -0.44)],
    'coat': [(0, 0.25), (0.09, 0.31), (0.20, 0.29), (0.52, -0.26), (0.44, -0.32), (0.22, 0.08), (0.28, -0.80),
             (0, -0.82)],
}


def flat_garment(kind, material, name='garment'):
    """The garment outline as a thin soft slab (upright in the XZ plane, top towards +Z)."""
    PARENT[0] = PROPS
    bm = bmesh.new()
    vs = [bm.verts.new((x, 0.0, z)) for x, z in mirror(OUTLINES[kind])]
    bm.faces.new(vs)
    ob = finish(name, bm, material, subsurf=0, smooth=False)
    mo = ob.modifiers.new('solid', 'SOLIDIFY')
    mo.thickness = 0.018
    mo.offset = 0.0
    mo = ob.modifiers.new('bevel', 'BEVEL')
    mo.width = 0.006
    mo.segments = 3
    ob.data.polygons.foreach_set('use_smooth', [True] * len(ob.data.polygons))
    PARENT[0] = ob   # the details below move with the garment
    if kind in ('jacket', 'coat'):   # front opening line and buttons
        zs = OUTLINES[kind][-1][1]
        limb('opening', V((0, -0.011, 0.22)), V((0, -0.011, zs + 0.02)), (0.003, 0.002), (0.003, 0.002),
             FIXED['brow'], n=2, segs=8, subsurf=0)
        for i in range(3):
            ellipsoid('button', V((0.03, -0.013, 0.10 - i * 0.14)), (X * 0.012, Y * 0.004, Z * 0.012),
                      FIXED['brow'], u=10, v=8, subsurf=0)
    if kind in ('tshirt', 'longsleeve', 'dress', 'sleeveless_dress'):   # neckline rib
        top = OUTLINES[kind][0][1]
        pts = [V((0.09 * math.sin(t), -0.011, top + 0.045 - 0.045 * math.cos(t) * 1.0))
               for t in [math.radians(a) for a in range(-80, 81, 20)]]
        tube('neckline', pts, [(0.006, 0.003)] * len(pts), material, segs=8, subsurf=0)
    if kind in ('trousers', 'shorts', 'skirt'):   # waistband
        top = OUTLINES[kind][0][1]
        w = OUTLINES[kind][1][0]
        limb('waistband', V((-w, -0.011, top - 0.03)), V((w, -0.011, top - 0.03)), (0.003, 0.004),
             (0.003, 0.004), FIXED['brow'], n=2, segs=8, subsurf=0)
    PARENT[0] = PROPS
    return ob


def hanger(top_z, width):
    """A wooden-looking hanger whose bar rests on the garment's shoulders at ``top_z``."""
    PARENT[0] = PROPS
    wm = wood_mat('hanger_wood', (0.40, 0.24, 0.10))
    tube('hanger_arm', [V((-width, -0.02, top_z - 0.05)), V((0, -0.02, top_z + 0.06)), V((width, -0.02, top_z - 0.05))],
         [(0.012, 0.012)] * 3, wm, side=Y, segs=12)
    hook = [V((0.03 * math.sin(a), -0.02, top_z + 0.10 + 0.03 * (1 - math.cos(a))))
            for a in [math.radians(d) for d in range(0, 250, 30)]]
    tube('hook', [V((0, -0.02, top_z + 0.05))] + hook, [(0.004, 0.004)] * (len(hook) + 1), FIXED['metal'],
         segs=8)


def fabric_sheet(material, rng, cell=0.0):
    """A crumpled square of cloth for a macro shot.

    ``cell`` is the pattern's cell size: the sheet is moved (in its own coordinates) to the middle of
    a cell in depth, so the wrinkles do not cross a 3-D checker boundary.
    """
    PARENT[0] = PROPS
    bpy.ops.mesh.primitive_grid_add(x_subdivisions=80, y_subdivisions=80, size=0.6)
    ob = bpy.context.active_object
    ob.data.materials.append(material)
    ob.parent = PROPS
    ob.data.transform(Matrix.Rotation(math.radians(90), 4, 'X'))   # local Z (stripes) lies in the image plane
    ob.data.transform(Matrix.Translation((0, cell / 2, 0)))
    ob.location = (0, -cell / 2, 0)
    tex = bpy.data.textures.new('wrinkle', 'CLOUDS')
    tex.noise_scale = rng.uniform(0.08, 0.16)
    mo = ob.modifiers.new('disp', 'DISPLACE')
    mo.texture = tex
    mo.strength = rng.uniform(0.008, 0.02)
    ob.data.polygons.foreach_set('use_smooth', [True] * len(ob.data.polygons))
    return ob


# ---------------------------------------------------------------- camera ---
FRAMINGS = {  # (bottom z range, top z range) of the frame at a 1.0-scale figure; top is above the head
    'close_up': ((1.14, 1.30), (1.74, 1.84)),
    'upper_body': ((0.82, 0.97), (1.76, 1.88)),
    'three_quarter': ((0.36, 0.62), (1.78, 1.92)),
    'full_length': ((-0.12, -0.04), (1.82, 1.98)),
}


def place_camera(rng, bottom, top, x=0.0, lens=None, tilt=None, landscape=False):
    """Frame bottom..top (vertical, at y=0), camera height changed by ``tilt`` (fraction of the span)."""
    cam_data.type = 'PERSP'
    cam_data.lens = lens or rng.choice((50, 70, 85, 105))
    vfov = 2 * math.atan(cam_data.sensor_height / 2 / cam_data.lens)
    h = top - bottom
    dist = (h / 2) / math.tan(vfov / 2)
    zc = (top + bottom) / 2
    tilt = rng.uniform(-0.35, 0.45) if tilt is None else tilt
    pos = V((x, -dist, zc + tilt * h))
    # keep the distance to the frame centre, so the span still fits
    d = (pos - V((x, 0, zc))).normalized() * dist
    cam.location = V((x, 0, zc)) + d
    cam.rotation_euler = (-d).to_track_quat('-Z', 'Y').to_euler()
    cam_data.clip_end = dist + 60
    return cam_data.lens, round(cam.location.z, 3), round(dist, 3)


def set_resolution(w, h):
    scene.render.resolution_x = w
    scene.render.resolution_y = h


PORTRAIT = (round(LONG_SIDE * 2 / 3) // 2 * 2, LONG_SIDE)
LANDSCAPE = (LONG_SIDE, round(LONG_SIDE * 3 / 4) // 2 * 2)
SQUARE = (LONG_SIDE, LONG_SIDE)

# ---------------------------------------------------------------- catalogue ---


def cloth(colour, pattern='solid', colour2='white', scale=30.0):
    return (colour, pattern, colour2, scale)


# one product = one person variant + one outfit, like a listing
PRODUCTS = {
    'v01': ({'build': (1.0, 1.0, 1.0), 'skin': 'light', 'hair': ('short', 'black'), 'shoes': 'white'},
            {'top': 'tshirt', 'bottom': 'trousers', 'top_cloth': cloth('navy'), 'bottom_cloth': cloth('denim')},
            ('relaxed', 'walk')),
    'v02': ({'build': (0.92, 0.95, 1.0), 'skin': 'brown', 'hair': ('short', 'brown'), 'shoes': 'brown'},
            {'top': 'longsleeve', 'bottom': 'trousers', 'top_cloth': cloth('white', 'stripes', 'navy', 28),
                 'bottom_cloth': cloth('khaki')}, ('apose', 'step')),
    'v03': ({'build': (0.95, 0.97, 0.97), 'hips': 1.12, 'skin': 'tan', 'hair': ('long', 'auburn'), 'shoes': 'black'},
            {'top': 'sleeveless_dress', 'top_cloth': cloth('red', 'dots', 'white', 22)}, ('walk', 'handonhip')),
    'v04': ({'build': (1.12, 1.10, 1.0), 'skin': 'deep', 'hair': ('short', 'black'), 'shoes': 'white'},
            {'top': 'tshirt', 'bottom': 'shorts', 'top_cloth': cloth('red', 'checks', 'black', 22),
                 'bottom_cloth': cloth('khaki')}, ('handonhip', 'wide')),
    'v05': ({'build': (0.98, 1.0, 1.05), 'skin': 'porcelain', 'hair': ('short', 'blonde'), 'shoes': 'black'},
            {'top': 'tshirt', 'bottom': 'trousers', 'outer': 'jacket', 'top_cloth': cloth('white'),
                 'bottom_cloth': cloth('charcoal'), 'outer_cloth': cloth('charcoal')}, ('relaxed', 'armsfront')),
    'v06': ({'build': (1.0, 1.0, 0.98), 'hips': 1.08, 'skin': 'tan', 'hair': ('bun', 'black'), 'shoes': 'white'},
            {'top': 'longsleeve', 'bottom': 'skirt', 'top_cloth': cloth('cream'),
                 'bottom_cloth': cloth('mustard', 'stripes', 'white', 20)}, ('step', 'wave')),
    'v07': ({'build': (1.02, 1.0, 0.94), 'hips': 1.05, 'skin': 'light', 'hair': ('long', 'blonde'), 'shoes': 'brown'},
            {'top': 'longsleeve', 'bottom': 'trousers', 'outer': 'coat', 'top_cloth': cloth('black'),
                 'bottom_cloth': cloth('black'), 'outer_cloth': cloth('camel', 'checks', 'brown', 12)},
            ('walk', 'relaxed')),
    'v08': ({'build': (0.93, 0.95, 1.02), 'skin': 'deep', 'hair': ('bun', 'brown'), 'shoes': 'black'},
            {'top': 'longsleeve', 'bottom': 'shorts', 'top_cloth': cloth('navy', 'dots', 'white', 30),
                 'bottom_cloth': cloth('denim')}, ('armsfront', 'apose')),
    'v09': ({'build': (0.94, 0.96, 1.0), 'hips': 1.1, 'skin': 'porcelain', 'hair': ('long', 'brown'), 'shoes': 'white'},
            {'top': 'dress', 'top_cloth': cloth('sky', 'vstripes', 'white', 24)}, ('relaxed', 'wave')),
    'v10': ({'build': (1.10, 1.08, 1.01), 'skin': 'brown', 'hair': ('short', 'grey'), 'shoes': 'brown'},
            {'top': 'tshirt', 'bottom': 'trousers', 'top_cloth': cloth('mustard'),
                 'bottom_cloth': cloth('grey', 'checks', 'charcoal', 18)}, ('wide', 'relaxed')),
}
YAWS = (0, 45, 90, 135, 180, 225, 270, 315)
FRAMING_NAMES = tuple(FRAMINGS)
N_PAIR_GROUPS, PAIRS_PER_GROUP = 3, 12


def main_garment(outfit):
    """(flat-lay kind, cloth spec, figure parts) of the product's main garment."""
    if outfit.get('outer'):
        return outfit['outer'], outfit['outer_cloth'], ('outer', 'top')
    if outfit['top'] in ('dress', 'sleeveless_dress'):
        return outfit['top'], outfit['top_cloth'], ('top',)
    if outfit.get('bottom') == 'skirt':
        return 'skirt', outfit['bottom_cloth'], ('bottom',)
    return outfit['top'], outfit['top_cloth'], ('top',)


def second_garment(outfit):
    kind, _, parts = main_garment(outfit)
    if 'bottom' in parts:
        return outfit['top'], outfit['top_cloth']
    if outfit.get('bottom'):
        return outfit['bottom'], outfit['bottom_cloth']
    return kind, main_garment(outfit)[1]


def outfit_text(outfit):
    g = [outfit['top'], outfit.get('bottom'), outfit.get('outer')]
    return '+'.join(x for x in g if x)


def cloth_text(outfit):
    out = []
    for k in ('top', 'bottom', 'outer'):
        c = outfit.get(k + '_cloth')
        if c and outfit.get(k):
            out.append(c[0] if c[1] == 'solid' else f'{c[0]}/{c[2]} {c[1]}')
    return '; '.join(out)


def plan():
    """Every image as (group, name, kind, params); deterministic."""
    shots = []
    for pi, (pid, (_person, _outfit, poses)) in enumerate(PRODUCTS.items()):
        for yi, yaw in enumerate(YAWS):
            skip = (yi + pi) % 4
            for fi, fr in enumerate(FRAMING_NAMES):
                if fi == skip:
                    continue
                shots.append((pid, f'{pid}_y{yaw:03d}_{fr}', 'person',
                              {'product': pid, 'yaw': yaw, 'framing': fr, 'pose': poses[(yi + fi) % 2]}))
        for k, setting in enumerate(('flat', 'flat2', 'hanger', 'ghost')):
            shots.append((pid, f'{pid}_flatlay_{setting}', 'flat_lay', {'product': pid, 'setting': setting, 'k': k}))
        for k in range(2):
            shots.append((pid, f'{pid}_fabric_{k + 1}', 'fabric', {'product': pid, 'k': k}))
    pids = list(PRODUCTS)
    n = 0
    for g in range(N_PAIR_GROUPS):
        for _ in range(PAIRS_PER_GROUP):
            a, b = pids[n % len(pids)], pids[(n * 3 + 1 + n // len(pids)) % len(pids)]
            if a == b:
                b = pids[(pids.index(a) + 1) % len(pids)]
            yaw = YAWS[n % 8]
            yaw2 = YAWS[(n * 5 + 2) % 8]
            fr = FRAMING_NAMES[(n // 2 + n) % 4]
            shots.append((f'p{g + 1}', f'pair{n + 1:02d}', 'person',
                          {'product': f'p{n + 1:02d}', 'a': a, 'b': b, 'yaw': yaw, 'yaw2': yaw2, 'framing': fr}))
            n += 1
    return shots


# ---------------------------------------------------------------- render ---
def render(name, labels):
    path = os.path.join(OUT, name + '.png')
    scene.render.filepath = path
    t0 = time.time()
    bpy.ops.render.render(write_still=True)
    labels['render_s'] = round(time.time() - t0, 2)
    labels['width'], labels['height'] = scene.render.resolution_x, scene.render.resolution_y
    with open(os.path.join(OUT, name + '.json'), 'w') as f:
        json.dump(labels, f, indent=1)
    print('RENDERED', name, labels['render_s'], flush=True)


def person_labels(person, outfit, pose):
    return {'body': 'x'.join(f'{v:.2f}' for v in person['build']) + f" hips{person.get('hips', 1.0):.2f}",
                'skin': person['skin'], 'hair': '/'.join(person['hair']), 'garments': outfit_text(outfit),
                'cloth': cloth_text(outfit), 'pose': pose}


def show_figures(n):
    for i, r in enumerate(ROOTS):
        if i >= n:
            clear(r)


def shot_person(name, prm, rng, state):
    person, outfit, _ = PRODUCTS[prm['product']]
    key = (prm['product'], prm['pose'])
    if state.get('built') != key:
        build_figure(ROOTS[0], person, outfit, prm['pose'])
        state['built'] = key
    show_figures(1)
    clear(PROPS)
    r = ROOTS[0]
    r.location = (0, 0, 0)
    r.rotation_euler = (0, 0, math.radians(prm['yaw']))
    bg = rng.choice(sorted(BACKGROUNDS))
    set_background(bg)
    sz = person['build'][2]
    (b0, b1), (t0, t1) = FRAMINGS[prm['framing']]
    bottom, top = rng.uniform(b0, b1) * sz, rng.uniform(t0, t1) * sz
    set_resolution(*PORTRAIT)
    lens, cz, dist = place_camera(rng, bottom, top, x=rng.uniform(-0.04, 0.04))
    light = set_lights(rng, (0, 0, 1.1 * sz))
    lab = dict(file=name + '.jpg', kind='person', product=prm['product'], scene='studio', n_people=1,
               yaw_deg=prm['yaw'], framing=prm['framing'], background=bg, light=light, camera_lens_mm=lens,
               camera_height_m=cz, camera_distance_m=dist, **person_labels(person, outfit, prm['pose']))
    render(name, lab)


def shot_pair(name, prm, rng, state):
    pa, oa, posesa = PRODUCTS[prm['a']]
    pb, ob, posesb = PRODUCTS[prm['b']]
    posea, poseb = rng.choice(posesa), rng.choice(posesb)
    build_figure(ROOTS[0], pa, oa, posea)
    build_figure(ROOTS[1], pb, ob, poseb)
    state['built'] = None
    clear(PROPS)
    side = rng.choice((-1, 1))
    gap = rng.uniform(0.22, 0.30) if prm['framing'] in ('three_quarter', 'full_length') else rng.uniform(0.15, 0.2)
    ROOTS[0].location = (side * gap, 0, 0)
    ROOTS[1].location = (-side * gap, rng.uniform(0.25, 0.6), 0)   # behind: smaller, may be overlapped
    ROOTS[0].rotation_euler = (0, 0, math.radians(prm['yaw']))
    ROOTS[1].rotation_euler = (0, 0, math.radians(prm['yaw2']))
    bg = rng.choice(sorted(BACKGROUNDS))
    set_background(bg)
    sz = pa['build'][2]
    (b0, b1), (t0, t1) = FRAMINGS[prm['framing']]
    bottom, top = rng.uniform(b0, b1) * sz, rng.uniform(t0, t1) * max(sz, pb['build'][2])
    set_resolution(*LANDSCAPE)
    lens, cz, dist = place_camera(rng, bottom, top, x=side * gap * 0.3, tilt=rng.uniform(-0.2, 0.35))
    light = set_lights(rng, (0, 0, 1.1 * sz))
    lab = dict(file=name + '.jpg', kind='person', product=prm['product'], scene='pair', n_people=2,
               yaw_deg=prm['yaw'], framing=prm['framing'], yaw2_deg=prm['yaw2'], product2=f"{prm['a']}+{prm['b']}",
               background=bg, light=light, camera_lens_mm=lens, camera_height_m=cz, camera_distance_m=dist,
               front_side='left' if side < 0 else 'right', **person_labels(pa, oa, posea))
    render(name, lab)


def shot_flat(name, prm, rng, state):
    person, outfit, _ = PRODUCTS[prm['product']]
    setting = prm['setting']
    show_figures(0)
    state['built'] = None
    clear(PROPS)
    kind, spec, parts = main_garment(outfit)
    if setting == 'flat2':
        kind, spec = second_garment(outfit)
    m = cloth_mat(spec)
    set_resolution(*SQUARE)
    lab = {'file': name + '.jpg', 'kind': 'flat_lay', 'product': prm['product'], 'scene': setting, 'n_people': 0,
               'garments': kind, 'cloth': spec[0] if spec[1] == 'solid' else f'{spec[0]}/{spec[2]} {spec[1]}'}
    if setting in ('flat', 'flat2'):
        surf = rng.choice(sorted(SURFACES))
        col, wood = SURFACES[surf]
        FLOOR.data.materials[0] = wood_mat('surf_' + surf, col) if wood else plain_mat('surf_' + surf, col, 0.8, 0.2)
        WALL.hide_render = True
        WORLD_BG.inputs['Color'].default_value = (0.6, 0.6, 0.6, 1)
        g = flat_garment(kind, m)
        g.rotation_euler = (math.radians(-90), 0, math.radians(rng.uniform(-12, 12)))
        g.location = (0, 0, 0.012)
        xs = [abs(x) for x, _ in OUTLINES[kind]]
        zs = [z for _, z in OUTLINES[kind]]
        span = max(2 * max(xs), max(zs) - min(zs)) * rng.uniform(1.12, 1.35)
        cam_data.type = 'PERSP'
        cam_data.lens = 50
        dist = (span / 2) / math.tan(math.atan(12 / 50))
        cam.location = (rng.uniform(-0.03, 0.03), (max(zs) + min(zs)) / 2, dist)
        cam.rotation_euler = (0, 0, 0)
        light = set_lights(rng, (0, 0, 0), scale=0.6, top_down=True)
        lab.update(background=surf, light=light, camera_height_m=round(dist, 3), camera_lens_mm=50)
    elif setting == 'hanger':
        bg = rng.choice(('white_studio', 'beige_wall', 'blue_wall', 'pink_wall', 'sage_wall'))
        set_background(bg)
        WALL.location = (0, 0.12, 6)
        g = flat_garment(kind, m)
        zs = [z for _, z in OUTLINES[kind]]
        topz = 1.9
        g.location = (0, 0, topz - max(zs))
        g.rotation_euler = (0, 0, math.radians(rng.uniform(-6, 6)))
        hanger(topz - 0.01, 0.2 if kind not in ('trousers', 'shorts', 'skirt') else 0.17)
        bottom = topz - (max(zs) - min(zs)) - 0.08
        lens, cz, dist = place_camera(rng, bottom, topz + 0.22, lens=85, tilt=rng.uniform(-0.1, 0.1))
        light = set_lights(rng, (0, 0, topz - 0.4), scale=0.8)
        lab.update(background=bg, light=light, camera_lens_mm=lens, camera_height_m=cz, camera_distance_m=dist)
    else:   # ghost: the garment as if worn by an invisible mannequin
        bg = rng.choice(('white_studio', 'grey_studio', 'white_studio'))
        set_background(bg)
        WALL.location = (0, 2.5, 6)
        build_figure(ROOTS[0], person, outfit, 'apose', parts=parts)
        ROOTS[0].location = (0, 0, 0)
        ROOTS[0].rotation_euler = (0, 0, math.radians(rng.choice((0, 0, 20, -20))))
        sz = person['build'][2]
        lo = {'coat': 0.45, 'jacket': 0.78, 'dress': 0.35, 'sleeveless_dress': 0.35, 'skirt': 0.45}.get(kind, 0.85)
        hi = 1.12 if kind == 'skirt' else 1.62
        lens, cz, dist = place_camera(rng, lo * sz, hi * sz, lens=85, tilt=rng.uniform(-0.1, 0.15))
        light = set_lights(rng, (0, 0, 1.1 * sz))
        lab.update(background=bg, light=light, camera_lens_mm=lens, camera_height_m=cz, camera_distance_m=dist)
    render(name, lab)
    WALL.location = (0, 2.5, 6)


def shot_fabric(name, prm, rng, state):
    _person, outfit, _ = PRODUCTS[prm['product']]
    show_figures(0)
    state['built'] = None
    clear(PROPS)
    _kind, spec, _ = main_garment(outfit)
    set_background('grey_studio')
    FLOOR.hide_render = True
    WALL.hide_render = True
    fabric_sheet(cloth_mat(spec), rng, cell=1.0 / spec[3] if spec[1] == 'checks' else 0.0)
    set_resolution(*SQUARE)
    span = rng.uniform(0.14, 0.26)
    cam_data.type = 'PERSP'
    cam_data.lens = 60
    dist = (span / 2) / math.tan(math.atan(12 / 60))
    cam.location = (rng.uniform(-0.1, 0.1), -dist, rng.uniform(-0.1, 0.1))
    cam.rotation_euler = (math.radians(90), 0, math.radians(rng.uniform(-0.5, 0.5)))
    light = set_lights(rng, (cam.location.x, 0, cam.location.z), scale=0.3)
    render(name, {'file': name + '.jpg', 'kind': 'fabric', 'product': prm['product'], 'scene': 'macro', 'n_people': 0,
                      'cloth': spec[0] if spec[1] == 'solid' else f'{spec[0]}/{spec[2]} {spec[1]}', 'light': light,
                      'camera_distance_m': round(dist, 3)})


def main():
    shots = plan()
    if '--list' in ARGV:
        groups = {}
        for g, *_ in shots:
            groups[g] = groups.get(g, 0) + 1
        for g, n in groups.items():
            print('GROUP', g, n, flush=True)
        return
    os.makedirs(OUT, exist_ok=True)
    only = arg('--only', None)
    state = {}
    for g, name, kind, prm in shots:
        if GROUP and g != GROUP:
            continue
        if only and only not in name:
            continue
        if os.path.exists(os.path.join(OUT, name + '.json')) and '--force' not in ARGV:
            continue
        rng = random.Random(name)
        if kind == 'person' and 'a' in prm:
            shot_pair(name, prm, rng, state)
        elif kind == 'person':
            shot_person(name, prm, rng, state)
        elif kind == 'flat_lay':
            shot_flat(name, prm, rng, state)
        else:
            shot_fabric(name, prm, rng, state)


main()
