"""The eight models of benchmarks/estimate_accuracy.py, written here (no downloads), sized for a 2-core CPU.

Each entry of MODELS: a factory, a batch maker (inputs, target), the loss, and what torch-preflight
needs to know about the input (batch size, sequence length or image size). The factories are
importable as ``estimate_models:NAME`` for ``torch-preflight estimate --model``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

VOCAB = 8192


def mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(1024, 2048), nn.GELU(), nn.Linear(2048, 2048), nn.GELU(), nn.Linear(2048, 10))


def cnn_batchnorm() -> nn.Module:
    def block(cin: int, cout: int) -> nn.Module:
        return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())

    return nn.Sequential(
        block(3, 32), block(32, 32), nn.MaxPool2d(2), block(32, 64), block(64, 64), nn.MaxPool2d(2),
        block(64, 128), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 10),
    )


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + (x if self.down is None else self.down(x)))


class ResNet18(nn.Module):
    """ResNet-18's layout (BasicBlock ×[2, 2, 2, 2], 64-512 channels, 11.7 M parameters)."""

    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1))
        layers, cin = [], 64
        for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            layers += [BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)]
            cin = cout
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(512, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.layers(self.stem(x)).mean(dim=(2, 3)))


def resnet18() -> nn.Module:
    return ResNet18()


class GPTBlock(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        self.heads = heads

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        att = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(att.transpose(1, 2).reshape(b, n, d))
        return x + self.mlp(self.ln2(x))


class SmallGPT(nn.Module):
    def __init__(self, layers: int = 4, dim: int = 256, heads: int = 4, context: int = 128) -> None:
        super().__init__()
        self.tok = nn.Embedding(VOCAB, dim)
        self.pos = nn.Embedding(context, dim)
        self.blocks = nn.ModuleList(GPTBlock(dim, heads) for _ in range(layers))
        self.ln = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, VOCAB, bias=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.tok(tokens) + self.pos(torch.arange(tokens.shape[1], device=tokens.device))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln(x))


def small_gpt() -> nn.Module:
    return SmallGPT()


class BertStyleEncoder(nn.Module):
    """A BERT-style encoder (post-norm, GELU, learned positions), 4 layers of d=512 to fit 2 cores."""

    def __init__(self, layers: int = 4, dim: int = 512, heads: int = 8, context: int = 128) -> None:
        super().__init__()
        self.tok = nn.Embedding(VOCAB, dim)
        self.pos = nn.Embedding(context, dim)
        layer = nn.TransformerEncoderLayer(dim, heads, 4 * dim, dropout=0.1, activation="gelu", batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.cls = nn.Linear(dim, 2)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.tok(tokens) + self.pos(torch.arange(tokens.shape[1], device=tokens.device))
        return self.cls(self.encoder(x)[:, 0])


def bert_encoder() -> nn.Module:
    return BertStyleEncoder()


class LSTMLanguageModel(nn.Module):
    def __init__(self, dim: int = 256, hidden: int = 512, layers: int = 2) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB, dim)
        self.lstm = nn.LSTM(dim, hidden, layers, batch_first=True)
        self.head = nn.Linear(hidden, VOCAB)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(self.embed(tokens))
        return self.head(out)


def lstm() -> nn.Module:
    return LSTMLanguageModel()


class UNet(nn.Module):
    def __init__(self, channels: int = 1, base: int = 32) -> None:
        super().__init__()

        def double(cin: int, cout: int) -> nn.Module:
            return nn.Sequential(
                nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(),
                nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(),
            )

        self.down1, self.down2, self.down3 = double(channels, base), double(base, 2 * base), double(2 * base, 4 * base)
        self.up2 = nn.ConvTranspose2d(4 * base, 2 * base, 2, stride=2)
        self.dec2 = double(4 * base, 2 * base)
        self.up1 = nn.ConvTranspose2d(2 * base, base, 2, stride=2)
        self.dec1 = double(2 * base, base)
        self.out = nn.Conv2d(base, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d1 = self.down1(x)
        d2 = self.down2(F.max_pool2d(d1, 2))
        d3 = self.down3(F.max_pool2d(d2, 2))
        u2 = self.dec2(torch.cat([self.up2(d3), d2], dim=1))
        u1 = self.dec1(torch.cat([self.up1(u2), d1], dim=1))
        return self.out(u1)


def unet() -> nn.Module:
    return UNet()


class ViT(nn.Module):
    def __init__(self, image: int = 64, patch: int = 8, dim: int = 256, layers: int = 4, heads: int = 4) -> None:
        super().__init__()
        self.patch = nn.Conv2d(3, dim, patch, stride=patch)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.zeros(1, (image // patch) ** 2 + 1, dim))
        layer = nn.TransformerEncoderLayer(dim, heads, 4 * dim, dropout=0.0, activation="gelu", batch_first=True,
                                           norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(dim, 100)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.patch(images).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1) + self.pos
        return self.head(self.blocks(x)[:, 0])


def vit() -> nn.Module:
    return ViT()


def _classes(n: int, classes: int) -> torch.Tensor:
    return torch.randint(0, classes, (n,))


def _lm_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits.flatten(0, 1), target.flatten())


# name: (factory, batch maker, loss, torch-preflight's input arguments)
MODELS = {
    "mlp": (mlp, lambda: (torch.randn(64, 1024), _classes(64, 10)), F.cross_entropy, ["--batch-size", "64"]),
    "cnn_batchnorm": (cnn_batchnorm, lambda: (torch.randn(16, 3, 64, 64), _classes(16, 10)), F.cross_entropy,
                      ["--batch-size", "16", "--image-size", "64"]),
    "resnet18": (resnet18, lambda: (torch.randn(8, 3, 64, 64), _classes(8, 1000)), F.cross_entropy,
                 ["--batch-size", "8", "--image-size", "64"]),
    "small_gpt": (small_gpt, lambda: (torch.randint(0, VOCAB, (8, 128)), torch.randint(0, VOCAB, (8, 128))), _lm_loss,
                  ["--batch-size", "8", "--seq-len", "128"]),
    "bert_encoder": (bert_encoder, lambda: (torch.randint(0, VOCAB, (8, 128)), _classes(8, 2)), F.cross_entropy,
                     ["--batch-size", "8", "--seq-len", "128"]),
    "lstm": (lstm, lambda: (torch.randint(0, VOCAB, (8, 32)), torch.randint(0, VOCAB, (8, 32))), _lm_loss,
             ["--batch-size", "8", "--seq-len", "32"]),
    "unet": (unet, lambda: (torch.randn(4, 1, 64, 64), torch.randn(4, 1, 64, 64)), F.mse_loss,
             ["--batch-size", "4", "--image-size", "64"]),
    "vit": (vit, lambda: (torch.randn(16, 3, 64, 64), _classes(16, 100)), F.cross_entropy,
            ["--batch-size", "16", "--image-size", "64"]),
}
