"""A tiny training-style loop that keeps every step's graph alive through a list of losses."""
import torch

torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(256, 2048), torch.nn.ReLU(), torch.nn.Linear(2048, 1))
losses = []
for step in range(30):
    x = torch.randn(256, 256)
    loss = model(x).pow(2).mean()
    losses.append(loss)
print("mean loss", round(float(sum(losses) / len(losses)), 4))
