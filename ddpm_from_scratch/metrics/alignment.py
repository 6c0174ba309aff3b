"""Does the image say what the prompt says? (chapters 03 and 07)

An attribute classifier, trained on real rendered scenes, reads shape, colour, size and
position back from an image. *Prompt agreement* is the fraction of generated images whose
every attribute, as read back, is the one the prompt asked for: one wrong colour and the
image counts as a miss. Per-attribute accuracies say which word the model gets wrong.

The metric is only as good as its reader, so the same function checks the classifier
itself on real scenes first (the book asks for >= 0.99).

The attributes are described by a *schema*, a dict from each attribute's name to its
values in the order of the classifier's outputs (``data.shapes.ATTRIBUTES``): the
classifier's logits are one block per attribute, in that order.
"""

import torch


@torch.no_grad()
def read_attributes(classifier, images: torch.Tensor, schema: dict, batch_size: int = 500) -> torch.Tensor:
    """images (N, C, S, S) in [-1, 1] -> (N, K) long: the most likely value of each of the schema's K attributes."""
    was_training = classifier.training
    classifier.eval()
    device = next(classifier.parameters()).device
    labels = []
    for i in range(0, len(images), batch_size):
        logits = classifier(images[i:i + batch_size].to(device)).cpu()
        blocks = logits.split([len(values) for values in schema.values()], dim=1)  # one block per attribute
        labels.append(torch.stack([block.argmax(dim=1) for block in blocks], dim=1))
    classifier.train(was_training)
    return torch.cat(labels) if labels else torch.zeros(0, len(schema), dtype=torch.long)


def prompt_agreement(classifier, images: torch.Tensor, wanted: torch.Tensor, schema: dict) -> dict:
    """Compare what the classifier reads in ``images`` with the attribute values they were asked for:
    ``wanted`` (N, K) long, the index of each attribute's value in schema order (for the scenes:
    ``data.shapes.attribute_labels(attribute_dicts)``).

    Returns {"agreement": fraction with every attribute right, "per_attribute": {name: accuracy}}.
    """
    wanted = torch.as_tensor(wanted)
    if len(images) != len(wanted):
        raise ValueError(f"got {len(images)} images but {len(wanted)} attribute sets")
    if len(images) == 0:
        raise ValueError("no images to measure")
    if wanted.ndim != 2 or wanted.shape[1] != len(schema):
        raise ValueError(f"wanted must be (N, {len(schema)}) attribute indices in the order {list(schema)}, "
                         f"got shape {tuple(wanted.shape)}")
    correct = read_attributes(classifier, images, schema) == wanted  # (N, K) bool
    return {
        "agreement": correct.all(dim=1).float().mean().item(),
        "per_attribute": {name: correct[:, i].float().mean().item() for i, name in enumerate(schema)},
    }



# --- with a contrastive text-image model (chapter 07) -----------------------------------
@torch.no_grad()
def _embed_pairs(model, images: torch.Tensor, text: torch.Tensor, batch_size: int = 500) -> tuple:
    if len(images) != len(text):
        raise ValueError(f"got {len(images)} images but {len(text)} captions")
    if len(images) == 0:
        raise ValueError("no images to measure")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    image_vectors, text_vectors = [], []
    for i in range(0, len(images), batch_size):
        image_vectors.append(model.encode_image(images[i:i + batch_size].to(device)).float().cpu())
        text_vectors.append(model.encode_text(text[i:i + batch_size].to(device)).float().cpu())
    model.train(was_training)
    return torch.cat(image_vectors), torch.cat(text_vectors)


def clip_score(model, images: torch.Tensor, text: torch.Tensor) -> float:
    """100 x the mean cosine similarity of each image with its own caption, negatives counted as 0
    (the CLIP-score of Hessel et al. 2021, without their 2.5 rescaling), with ``model`` a
    ``nn.ContrastiveTextImage`` and ``text`` its token ids. Only comparable between runs scored by the
    same encoders: real images with their captions give the level to compare with."""
    image_vectors, text_vectors = _embed_pairs(model, images, text)
    return 100 * (image_vectors * text_vectors).sum(1).clamp(min=0).mean().item()


def retrieval_top1(model, images: torch.Tensor, text: torch.Tensor) -> float:
    """Text -> image retrieval: the fraction of captions whose most similar image, among all N, is their own
    (or one whose caption is the same words). Chance is about 1 / N."""
    image_vectors, text_vectors = _embed_pairs(model, images, text)
    best = (text_vectors @ image_vectors.T).argmax(dim=1)  # for each caption, the nearest image
    return (text[best] == text).all(dim=1).float().mean().item()  # the caption of the image found is the query's
