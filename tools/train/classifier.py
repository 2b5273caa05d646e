#!/usr/bin/env python3
"""A small texture classifier, trained only on the training textures, that judges class identity.

It measures whether a generated "brick" looks like the training set's bricks: its accuracy on
generated textures of each requested class is compared with its accuracy on held-out real
textures (the labels are name-keyword classes, so the real accuracy is the attainable ceiling,
not 100 %). The network is a plain 32 px CNN with global average pooling, trained with the
same periodic augmentation as the diffusion model (roll, flips, rotations where allowed), so a
toroidal shift or a flip does not change its answer.

    /usr/bin/python3 tools/train/classifier.py --train      # -> ~/.cache/tessera/classifier/classifier.pt
    /usr/bin/python3 tools/train/classifier.py --report     # held-out accuracy per class

evaluate.py loads it (and trains it first when it is missing) for its class-accuracy column.
"""
import argparse
import json
import os
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from data import TextureSet  # noqa: E402
from edm import to_unit  # noqa: E402

CACHE = os.path.expanduser("~/.cache/tessera")
RES = 32  # class identity is layout and colour; 32 px keeps the classifier cheap


class TextureClassifier(nn.Module):
    def __init__(self, n_classes, width=48):
        super().__init__()
        chans = [3, width, width * 2, width * 4]
        layers = []
        for cin, cout in zip(chans[:-1], chans[1:]):
            layers += [nn.Conv2d(cin, cout, 3, padding=1, padding_mode="circular"), nn.GroupNorm(8, cout),
                       nn.SiLU(), nn.Conv2d(cout, cout, 3, padding=1, padding_mode="circular"),
                       nn.GroupNorm(8, cout), nn.SiLU(), nn.AvgPool2d(2)]
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(chans[-1] * 2, n_classes)

    def forward(self, x):
        """x: float images in [-1, 1] at any size (resized to 32 px)."""
        if x.shape[-1] != RES:
            x = F.interpolate(x, size=(RES, RES), mode="area")
        h = self.features(x)
        # mean and std pooling: texture statistics, independent of where things are
        return self.head(torch.cat([h.mean((2, 3)), h.std((2, 3))], 1))


def default_path(cache=CACHE):
    return os.path.join(cache, "classifier", "classifier.pt")


def train_classifier(data, out, steps=3000, batch=64, lr=2e-3, threads=2, seed=0, log=print):
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    train = TextureSet(data, RES, "train")
    held = TextureSet(data, RES, "heldout")
    n_cls = len(train.classes)
    net = TextureClassifier(n_cls)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=0.05)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    # balance the classes: the name-keyword classes range from ~20 to ~300 textures
    counts = torch.bincount(train.labels, minlength=n_cls).float()
    weights = (1.0 / counts.clamp_min(1))[train.labels]
    gen = torch.Generator().manual_seed(seed)
    t0 = time.time()
    for step in range(steps):
        idx = torch.multinomial(weights, batch, replacement=True, generator=gen)
        x, y = train.batch(batch, gen, idx=idx)
        loss = F.cross_entropy(net(x), y, label_smoothing=0.1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if (step + 1) % 500 == 0:
            acc = accuracy(net, to_unit(held.images), held.labels)["overall"]
            log(f"step {step + 1} loss {loss.item():.3f} held-out accuracy {acc:.3f} ({time.time() - t0:.0f} s)")
    net.eval()
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    torch.save({"state": net.state_dict(), "classes": train.classes, "res": RES, "steps": steps,
                "train_textures": len(train)}, out)
    return net


def load_classifier(path):
    ck = torch.load(path, map_location="cpu")
    net = TextureClassifier(len(ck["classes"]))
    net.load_state_dict(ck["state"])
    return net.eval(), ck["classes"]


def ensure_classifier(data, path=None, threads=2, log=print):
    path = path or default_path()
    if not os.path.exists(path):
        log(f"training the class-accuracy classifier -> {path}")
        train_classifier(data, path, threads=threads, log=log)
    return load_classifier(path)


@torch.no_grad()
def accuracy(net, x, labels, n_classes=None):
    """{'overall': accuracy, 'per_class': {index: accuracy}} on float images in [-1, 1]."""
    was = net.training
    net.eval()
    pred = torch.cat([net(x[i:i + 256]).argmax(1) for i in range(0, len(x), 256)])
    net.train(was)
    ok = (pred == labels).float()
    per = {int(c): float(ok[labels == c].mean()) for c in labels.unique()}
    return {"overall": float(ok.mean()), "per_class": per, "pred": pred}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.path.join(CACHE, "data"))
    ap.add_argument("--out", default=default_path())
    ap.add_argument("--train", action="store_true")
    ap.add_argument("--report", action="store_true")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    if args.train:
        train_classifier(args.data, args.out, steps=args.steps, threads=args.threads)
    if args.report or not args.train:
        net, classes = load_classifier(args.out)
        held = TextureSet(args.data, RES, "heldout")
        acc = accuracy(net, to_unit(held.images), held.labels)
        print(json.dumps({"held-out accuracy": round(acc["overall"], 3),
                          "per class": {classes[k]: round(v, 3) for k, v in acc["per_class"].items()},
                          "held-out textures": len(held)}, indent=1))


if __name__ == "__main__":
    main()
