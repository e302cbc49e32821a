"""The "shapes" clip world: a tiny synthetic video world, deterministic from a seed.

A scene is one to three shapes (circle, square, triangle; distinct kinds, distinct colours) on a plain background, 64x64 px,
8-16 frames at 8 fps. Shapes move, grow, shrink, appear, disappear, change colour, or two of them
move toward / away from each other; a clip may hold two events at once or one after the other.
Every clip has one canonical caption (fixed wording and mention order) and QA pairs derived from the
ground truth; stills (one frame) have a caption such as "a red circle and a blue square.".

    import world
    rng = random.Random(0)
    scene = world.sample_clip(rng)          # dict: frames count, shapes with per-frame state, events
    frames = world.render(scene)            # uint8 [N, 64, 64, 3]
    world.caption(scene), world.qa_pairs(scene)

Conventions (also in MODEL_CARD.md):
* Mention order: shapes by kind order circle, square, triangle; sequential clips by time.
* Captions end with "."; QA answers are short phrases without a final period.
* Caption questions (CAPTION_QUESTIONS) all map to the caption.
"""
from __future__ import annotations

import math
import random

import numpy as np

SIZE = 64
FPS = 8
SHAPES = ["circle", "square", "triangle"]
COLOURS = {
    "red": (220, 40, 40),
    "green": (40, 180, 60),
    "blue": (50, 80, 235),
    "yellow": (240, 215, 40),
    "purple": (165, 60, 205),
}
COLOUR_NAMES = list(COLOURS)
BACKGROUNDS = {"black": (0, 30), "gray": (105, 145), "white": (215, 250)}
DIRECTIONS = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}
NUMBERS = {1: "one", 2: "two", 3: "three"}

# Every one of these asks for the caption (the CLI's demo asks "what happens", `vidlm caption`
# asks "what happens?").
CAPTION_QUESTIONS = [
    "what happens?", "what happens", "what is happening?", "what is happening",
    "what happens in the clip?", "what happens in the video?", "what is going on?",
    "describe the clip.", "describe the clip", "describe the video.", "describe the video",
    "describe the image.", "describe the image", "describe this.", "describe this",
    "what do you see?", "caption", "caption this.",
]
COLOUR_Q = ["what colour is the {s}?", "what color is the {s}?"]
COUNT_Q = ["how many shapes are there?", "how many shapes?"]
HAPPEN_Q = ["what happens to the {s}?", "what does the {s} do?"]
WAY_Q = ["which way does the {s} move?", "which direction does the {s} move?"]
IS_Q = ["is there a {s}?"]
WHICH_COLOUR_Q = ["which shape is {c}?"]
WHICH_DOES_Q = ["which shape {p}?"]
FIRST_Q = ["what happens first?"]
LAST_Q = ["what happens last?", "what happens next?"]

# event kinds: (name, temporally asymmetric)
EVENTS = ["move", "grow", "shrink", "appear", "disappear", "recolour"]


# ---------------------------------------------------------------------------------------------
# scene sampling
# ---------------------------------------------------------------------------------------------

def _lerp(a, b, t):
    return a + (b - a) * t


def _radius(kind: str, size: float) -> float:
    """Bounding radius of a shape of half-size `size`."""
    return size * (1.0 if kind == "circle" else 1.25)


def _fits(x, y, r):
    return r + 1 <= x <= SIZE - 1 - r and r + 1 <= y <= SIZE - 1 - r


class _Shape:
    def __init__(self, kind, colour):
        self.kind, self.colour = kind, colour
        self.event = "still"          # still | move | grow | shrink | appear | disappear | recolour | toward | away
        self.detail = {}
        self.window = (0.0, 1.0)      # progress window in which the event happens
        self.x0 = self.y0 = self.x1 = self.y1 = 0.0
        self.s0 = self.s1 = 8.0
        self.colour1 = colour

    def state(self, p):
        """(visible, x, y, size, colour) at clip progress p in [0, 1]."""
        a, b = self.window
        t = 0.0 if p <= a else 1.0 if p >= b else (p - a) / (b - a)
        mid = (a + b) / 2
        x, y = _lerp(self.x0, self.x1, t), _lerp(self.y0, self.y1, t)
        s = _lerp(self.s0, self.s1, t)
        visible = True
        if self.event == "appear":
            visible = p >= mid
        elif self.event == "disappear":
            visible = p < mid
        colour = self.colour
        if self.event == "recolour" and p >= mid:
            colour = self.colour1
        return visible, x, y, s, colour

    def predicate(self):
        e = self.event
        if e == "still":
            return "stays still"
        if e == "move":
            return f"moves {self.detail['dir']}"
        if e in ("grow", "shrink", "appear", "disappear"):
            return e + "s"
        if e == "recolour":
            return f"changes colour from {self.colour} to {self.colour1}"
        raise ValueError(e)

    def name(self):
        return f"the {self.kind}" if self.event == "recolour" else f"the {self.colour} {self.kind}"

    def clause(self):
        return f"{self.name()} {self.predicate()}"

    def direction(self):
        dx, dy = self.x1 - self.x0, self.y1 - self.y0
        if abs(dx) < 1 and abs(dy) < 1:
            return None
        if abs(dx) >= abs(dy):
            return "right" if dx > 0 else "left"
        return "down" if dy > 0 else "up"


def _place(rng, shapes, frames, tries=400):
    """Sample geometry for every shape so that shapes stay in frame and never overlap."""
    ps = [i / max(frames - 1, 1) for i in range(frames)]
    for _ in range(tries):
        ok = True
        for sh in shapes:
            if sh.event in ("toward", "away"):
                continue
            base = rng.uniform(7.5, 10.0)
            sh.s0 = sh.s1 = base
            if sh.event == "grow":
                sh.s0, sh.s1 = rng.uniform(5.0, 6.5), rng.uniform(10.5, 12.0)
            elif sh.event == "shrink":
                sh.s0, sh.s1 = rng.uniform(10.5, 12.0), rng.uniform(5.0, 6.5)
            r = _radius(sh.kind, max(sh.s0, sh.s1))
            sh.x0, sh.y0 = rng.uniform(r + 1, SIZE - 1 - r), rng.uniform(r + 1, SIZE - 1 - r)
            sh.x1, sh.y1 = sh.x0, sh.y0
            if sh.event == "move":
                dx, dy = DIRECTIONS[sh.detail["dir"]]
                dist = rng.uniform(18.0, 28.0)
                sh.x1, sh.y1 = sh.x0 + dx * dist, sh.y0 + dy * dist
                # small drift across the main axis keeps the direction unambiguous
                if dx == 0:
                    sh.x1 += rng.uniform(-2, 2)
                else:
                    sh.y1 += rng.uniform(-2, 2)
                if not _fits(sh.x1, sh.y1, r):
                    ok = False
                    break
        if not ok:
            continue
        pair = [sh for sh in shapes if sh.event in ("toward", "away")]
        if pair:
            a, b = pair
            size_a, size_b = rng.uniform(7.0, 9.0), rng.uniform(7.0, 9.0)
            a.s0 = a.s1 = size_a
            b.s0 = b.s1 = size_b
            ra, rb = _radius(a.kind, size_a), _radius(b.kind, size_b)
            far, near = rng.uniform(42.0, 46.0), ra + rb + rng.uniform(2.0, 5.0)
            d0, d1 = (far, near) if a.event == "toward" else (near, far)
            horizontal = rng.random() < 0.6
            c_main = rng.uniform(SIZE / 2 - 4, SIZE / 2 + 4)
            c_cross = rng.uniform(max(ra, rb) + 2, SIZE - 2 - max(ra, rb))
            first_low = rng.random() < 0.5   # a on the left/top side
            sa, sb = (-1, 1) if first_low else (1, -1)
            if horizontal:
                a.x0, a.x1 = c_main + sa * d0 / 2, c_main + sa * d1 / 2
                b.x0, b.x1 = c_main + sb * d0 / 2, c_main + sb * d1 / 2
                a.y0 = a.y1 = b.y0 = b.y1 = c_cross
            else:
                a.y0, a.y1 = c_main + sa * d0 / 2, c_main + sa * d1 / 2
                b.y0, b.y1 = c_main + sb * d0 / 2, c_main + sb * d1 / 2
                a.x0 = a.x1 = b.x0 = b.x1 = c_cross
            if not all(_fits(s.x0, s.y0, _radius(s.kind, s.s0)) and _fits(s.x1, s.y1, _radius(s.kind, s.s1))
                       for s in pair):
                continue
        # no overlaps at any frame (with a 2 px margin)
        for p in ps:
            states = [(sh, sh.state(p)) for sh in shapes]
            for i in range(len(states)):
                for j in range(i + 1, len(states)):
                    (sa_, (_, xa, ya, sza, _)), (sb_, (_, xb, yb, szb, _)) = states[i], states[j]
                    if math.hypot(xa - xb, ya - yb) < _radius(sa_.kind, sza) + _radius(sb_.kind, szb) + 2:
                        ok = False
                        break
                if not ok:
                    break
            if not ok:
                break
        if ok:
            return True
    return False


def _event_for(rng, sh, used_colours):
    ev = rng.choice(EVENTS)
    sh.event = ev
    if ev == "move":
        sh.detail = {"dir": rng.choice(list(DIRECTIONS))}
    if ev == "recolour":
        sh.colour1 = rng.choice([c for c in COLOUR_NAMES if c not in used_colours])
        used_colours.add(sh.colour1)


SCENE_KINDS = [("single", 0.22), ("single_static", 0.20), ("two", 0.20), ("pair", 0.15),
               ("sequence", 0.18), ("static", 0.05)]


def sample_clip(rng: random.Random, kind: str | None = None, asymmetric_only: bool = False) -> dict:
    """One clip scene. `kind` forces a scene kind; `asymmetric_only` excludes shapes that stay still."""
    while True:
        k = kind or rng.choices([n for n, _ in SCENE_KINDS], [w for _, w in SCENE_KINDS])[0]
        if asymmetric_only and k in ("single_static", "static"):
            k = "single"
        frames = rng.randint(8, 16) if k != "sequence" else rng.randint(12, 16)
        count = {"single": 1, "single_static": rng.randint(2, 3), "two": 2, "pair": rng.randint(2, 3),
                 "sequence": 2, "static": rng.randint(1, 3)}[k]
        if asymmetric_only and k == "pair":
            count = 2
        kinds = rng.sample(SHAPES, count)
        colours = rng.sample(COLOUR_NAMES, count)
        used = set(colours)
        shapes = [_Shape(a, c) for a, c in zip(kinds, colours)]
        if k in ("single", "single_static"):
            _event_for(rng, shapes[0], used)
        elif k == "two":
            for sh in shapes:
                _event_for(rng, sh, used)
        elif k == "pair":
            ev = rng.choice(["toward", "away"])
            shapes[0].event = shapes[1].event = ev
        elif k == "sequence":
            for sh, win in zip(shapes, [(0.0, 0.5), (0.5, 1.0)]):
                _event_for(rng, sh, used)
                sh.window = win
        if _place(rng, shapes, frames):
            break
    bg_name = rng.choice(list(BACKGROUNDS))
    lo, hi = BACKGROUNDS[bg_name]
    bg = rng.randint(lo, hi)
    return {"kind": k, "frames": frames, "shapes": shapes, "background": bg_name, "bg": (bg, bg, bg),
            "still": False}


def sample_still(rng: random.Random) -> dict:
    count = rng.choices([1, 2, 3], [0.3, 0.4, 0.3])[0]
    kinds = rng.sample(SHAPES, count)
    colours = rng.sample(COLOUR_NAMES, count)
    shapes = [_Shape(a, c) for a, c in zip(kinds, colours)]
    while not _place(rng, shapes, 1):
        pass
    bg_name = rng.choice(list(BACKGROUNDS))
    lo, hi = BACKGROUNDS[bg_name]
    bg = rng.randint(lo, hi)
    return {"kind": "image", "frames": 1, "shapes": shapes, "background": bg_name, "bg": (bg, bg, bg),
            "still": True}


# ---------------------------------------------------------------------------------------------
# rendering
# ---------------------------------------------------------------------------------------------

_SS = 4  # supersampling factor for anti-aliased edges
_grid = (np.arange(SIZE * _SS, dtype=np.float32) + 0.5) / _SS


def _mask(kind, x, y, s):
    """Coverage [64, 64] float32 of one shape (anti-aliased), computed in its bounding box."""
    r = _radius(kind, s) + 1
    x_lo, x_hi = max(int(x - r), 0), min(int(x + r) + 2, SIZE)
    y_lo, y_hi = max(int(y - r), 0), min(int(y + r) + 2, SIZE)
    out = np.zeros((SIZE, SIZE), np.float32)
    if x_lo >= x_hi or y_lo >= y_hi:
        return out
    gx = _grid[x_lo * _SS:x_hi * _SS][None, :] - x
    gy = _grid[y_lo * _SS:y_hi * _SS][:, None] - y
    if kind == "circle":
        m = gx * gx + gy * gy <= s * s
    elif kind == "square":
        h = s * 0.88
        m = (np.abs(gx) <= h) & (np.abs(gy) <= h)
    elif kind == "triangle":
        # apex up: (0, -s*1.1), base corners (+-s*1.15, s*0.85)
        top, bottom, half = -s * 1.1, s * 0.85, s * 1.15
        slope = half / (bottom - top)
        m = (gy <= bottom) & (np.abs(gx) <= (gy - top) * slope)
    elif kind == "diamond":
        m = np.abs(gx) + np.abs(gy) * 0.85 <= s * 1.15
    else:
        raise ValueError(kind)
    m = m.astype(np.float32).reshape(y_hi - y_lo, _SS, x_hi - x_lo, _SS).mean(axis=(1, 3))
    out[y_lo:y_hi, x_lo:x_hi] = m
    return out


def render(scene: dict) -> np.ndarray:
    """uint8 [N, 64, 64, 3] frames of the scene."""
    n = scene["frames"]
    out = np.empty((n, SIZE, SIZE, 3), np.uint8)
    for f in range(n):
        p = f / max(n - 1, 1)
        img = np.empty((SIZE, SIZE, 3), np.float32)
        img[:] = scene["bg"]
        for sh in scene["shapes"]:
            visible, x, y, s, colour = sh.state(p)
            if not visible:
                continue
            m = _mask(sh.kind, x, y, s)[..., None]
            img = img * (1 - m) + np.asarray(COLOURS[colour], np.float32) * m
        out[f] = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    return out


def sample_indices(n: int, num_frames: int = 8) -> list[int]:
    """The engine's frame sampling: floor((i + 0.5) * N / n), all frames when N < n."""
    if n <= num_frames:
        return list(range(n))
    return [int(math.floor((i + 0.5) * n / num_frames)) for i in range(num_frames)]


# ---------------------------------------------------------------------------------------------
# language
# ---------------------------------------------------------------------------------------------

def _join(parts):
    if len(parts) == 1:
        return parts[0]
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _ordered(shapes):
    return sorted(shapes, key=lambda sh: SHAPES.index(sh.kind))


def caption(scene: dict) -> str:
    shapes = scene["shapes"]
    if scene["still"]:
        return _join([f"a {sh.colour} {sh.kind}" for sh in _ordered(shapes)]) + "."
    if scene["kind"] == "sequence":
        a, b = shapes
        return f"{a.clause()}, then {b.clause()}."
    pair = _ordered([sh for sh in shapes if sh.event in ("toward", "away")])
    rest = _ordered([sh for sh in shapes if sh.event not in ("toward", "away")])
    parts = []
    if pair:
        ev = "toward" if pair[0].event == "toward" else "away from"
        parts.append(f"{pair[0].name()} and {pair[1].name()} move {ev} each other")
    parts += [sh.clause() for sh in rest]
    return _join(parts) + "."


def _what_happens_to(sh, shapes):
    if sh.event in ("toward", "away"):
        other = [o for o in shapes if o is not sh and o.event == sh.event][0]
        return f"moves {'toward' if sh.event == 'toward' else 'away from'} the {other.kind}"
    return sh.predicate()


def qa_pairs(scene: dict, rng: random.Random | None = None) -> list[tuple[str, str]]:
    """All canonical (question, answer) pairs of a scene; `rng` picks question paraphrases
    (None = the first wording of each)."""
    pick = (lambda xs: xs[0]) if rng is None else rng.choice
    shapes = scene["shapes"]
    qa = [(pick(COUNT_Q), NUMBERS[len(shapes)])]
    present = {sh.kind for sh in shapes}
    for kind in SHAPES:
        qa.append((pick(IS_Q).format(s=kind), "yes" if kind in present else "no"))
    for sh in _ordered(shapes):
        if sh.event != "recolour":
            qa.append((pick(COLOUR_Q).format(s=sh.kind), sh.colour))
            qa.append((pick(WHICH_COLOUR_Q).format(c=sh.colour), f"the {sh.kind}"))
        if scene["still"]:
            continue
        qa.append((pick(HAPPEN_Q).format(s=sh.kind), _what_happens_to(sh, shapes)))
        if sh.event in ("move", "toward", "away"):
            qa.append((pick(WAY_Q).format(s=sh.kind), sh.direction()))
    if not scene["still"]:
        preds = {}
        for sh in shapes:
            if sh.event in ("grow", "shrink", "appear", "disappear", "move"):
                preds.setdefault(sh.predicate(), []).append(sh)
        for pred, owners in preds.items():
            if len(owners) == 1:
                qa.append((pick(WHICH_DOES_Q).format(p=pred), f"the {owners[0].kind}"))
        if scene["kind"] == "sequence":
            a, b = shapes
            qa.append((pick(FIRST_Q), a.clause()))
            qa.append((pick(LAST_Q), b.clause()))
    return qa


def describe(scene: dict) -> dict:
    """JSON-able ground truth of a scene."""
    return {"kind": scene["kind"], "frames": scene["frames"], "background": scene["background"],
            "shapes": [{"kind": sh.kind, "colour": sh.colour, "event": sh.event,
                        **({"to_colour": sh.colour1} if sh.event == "recolour" else {}),
                        **({"direction": sh.direction()} if sh.event in ("move", "toward", "away") else {})}
                       for sh in scene["shapes"]]}


def corpus(seed: int = 0, clips: int = 2000, stills: int = 500) -> list[str]:
    """Text the tokenizer is trained on: captions, questions, answers, prompts."""
    rng = random.Random(seed)
    lines = []
    for i in range(clips + stills):
        sc = sample_clip(rng) if i < clips else sample_still(rng)
        lines.append(caption(sc))
        for q, a in qa_pairs(sc, rng):
            lines += [q, a]
    for template in (CAPTION_QUESTIONS + COLOUR_Q + COUNT_Q + HAPPEN_Q + WAY_Q + IS_Q + FIRST_Q + LAST_Q):
        for s in SHAPES:
            lines.append(template.format(s=s, c="red", p="grows"))
    return lines


_OPPOSITE = {"left": "right", "right": "left", "up": "down", "down": "up", "grow": "shrink", "shrink": "grow",
             "appear": "disappear", "disappear": "appear", "toward": "away", "away": "toward"}


def reverse(scene: dict) -> dict:
    """The scene played backwards (its render is the reversed clip; captions differ for every
    temporally asymmetric event)."""
    import copy
    out = copy.deepcopy(scene)
    for sh in out["shapes"]:
        sh.x0, sh.x1, sh.y0, sh.y1 = sh.x1, sh.x0, sh.y1, sh.y0
        sh.s0, sh.s1 = sh.s1, sh.s0
        sh.window = (1.0 - sh.window[1], 1.0 - sh.window[0])
        if sh.event in _OPPOSITE:
            sh.event = _OPPOSITE[sh.event]
        if sh.event == "move":
            sh.detail = {"dir": _OPPOSITE[sh.detail["dir"]]}
        if sh.event == "recolour":
            sh.colour, sh.colour1 = sh.colour1, sh.colour
    if out["kind"] == "sequence":
        out["shapes"] = out["shapes"][::-1]
    return out
