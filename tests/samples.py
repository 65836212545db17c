"""Small programs shared by the front-end tests. The rules' own samples live in the rule modules."""

EVAL_LOOP = '''\
import torch


def evaluate(model, loader):
    model.eval()
    correct = 0
    for x, y in loader:
        out = model(x)
        correct += (out.argmax(1) == y).sum().item()
    return correct
'''
# The row and column of the forward pass `model(x)` in EVAL_LOOP.
EVAL_LOOP_ROW, EVAL_LOOP_COL = 8, 15

CLEAN = '''\
import torch


@torch.no_grad()
def evaluate(model, loader):
    model.eval()
    return sum((model(x).argmax(1) == y).sum().item() for x, y in loader)
'''
