"""Paired data for the whole book, fully offline: one import for every modality (book: Part 1,
"A first look at our data"; Part 5).

This module gathers, under one name, what lives in one module per idea:

=================  ===========================================================================
``pairs``          :class:`PairedDataset` ``(.inputs, .captions, .labels, .attributes)``, the
                   container every modality uses, and :func:`concat_pairs`
``digits``         the scikit-learn digits ``[N, 1, 8, 8]``, attributes measured from pixels
                   (:func:`ink`, :func:`slant`, terciles) and :func:`load_digit_pairs`;
                   two digits side by side: :func:`load_digit_scenes` (Part 7.1)
``captions``       English/Chinese captions: :func:`describe`, :func:`parse_caption`,
                   :func:`digit_prompts`, ``DIGIT_NAMES``, :data:`ATTRIBUTE_LEVELS`
``speech``         spoken digits as log-mel spectrograms ``[N, 1, 32, 32]`` (Part 5.2):
                   :func:`load_spoken_digits`, :func:`audio_to_spectrogram`, Griffin-Lim;
                   strings of spoken digits: :func:`load_spoken_digit_strings` (Part 5.2b)
``video``          moving-digit clips ``[N, T, 1, H, W]`` (Part 5.3): :func:`load_moving_digits`
``history``        the milestones of the Part 1 timeline: :func:`load_milestones`
=================  ===========================================================================

``from crossmodal_lib import data`` then ``data.load_digit_pairs("train")``, ``data.slant(images)``
and the rest work as before; new code may import from the modules above directly.
"""

from __future__ import annotations

from . import captions as _captions, digits as _digits_module, speech as _speech, video as _video
from .captions import DIGIT_NAMES, LANGS, ParsedCaption, _article, describe, digit_prompts, paraphrase_prompts, parse_caption
from .digits import (
    CAPTION_STREAMS, SPLITS, TEST_FRACTION, _digits, _split_indices, attribute_levels, dataset_thresholds, dilate_images, erode_images,
    ink, load_digit_pairs, load_digit_scenes, scene_caption, shear_images, slant, tercile_thresholds,
)
from .history import Milestone, load_milestones
from .pairs import Pair, PairedDataset, concat_pairs
from .speech import (
    _spoken_digits, audio_to_spectrogram, load_spoken_digit_strings, load_spoken_digits, spectrogram_to_audio,
    spoken_digit_audio, spoken_transcripts,
)
from .video import load_moving_digits, moving_digit_prompts, novel_direction

# Sphinx reads the doc comment (#:) of a constant from the module that assigns it, so the
# documented constants are bound here too, with the comments of their home modules, for the
# library reference (book/api.md documents this module).
#: Human-readable names of the three ordered levels of each attribute.
ATTRIBUTE_LEVELS = _captions.ATTRIBUTE_LEVELS
#: How the speech features are computed: 16 kHz audio, a fixed 0.775 s window, 32 mel bands
#: between 50 Hz and 8 kHz, 512-sample (32 ms) windows every 400 samples (25 ms), so 32 frames.
#: Power in dB (relative to power 1, waveforms peak-normalised to 0.9) is mapped linearly from
#: [top_db - range_db, top_db] = [-70, +20] dB to [0, 1] and clipped (3 of the 1.6 million
#: values of the shipped clips touch the top).
SPEECH = _speech.SPEECH
#: Direction names, in label order: ``label = 4 * digit + direction``.
DIRECTIONS = _video.DIRECTIONS
#: Prompt wordings that no training caption uses (synonyms, word order, the numeral instead of
#: the word): the paraphrase test of Part 6. ``{w}`` is the digit's English word, ``{n}`` its numeral.
PARAPHRASE_TEMPLATES = _captions.PARAPHRASE_TEMPLATES
#: the captions of :func:`load_digit_scenes`: the same words in either order, so only word order tells left from right
SCENE_TEMPLATES = _digits_module.SCENE_TEMPLATES

__all__ = [
    "ATTRIBUTE_LEVELS",
    "DIGIT_NAMES",
    "PARAPHRASE_TEMPLATES",
    "SCENE_TEMPLATES",
    "paraphrase_prompts",
    "ParsedCaption",
    "parse_caption",
    "Milestone",
    "PairedDataset",
    "attribute_levels",
    "concat_pairs",
    "dataset_thresholds",
    "describe",
    "digit_prompts",
    "dilate_images",
    "erode_images",
    "ink",
    "load_digit_pairs",
    "load_digit_scenes",
    "load_milestones",
    "scene_caption",
    "shear_images",
    "slant",
    "tercile_thresholds",
    "DIRECTIONS",
    "SPEECH",
    "audio_to_spectrogram",
    "load_moving_digits",
    "load_spoken_digit_strings",
    "load_spoken_digits",
    "moving_digit_prompts",
    "novel_direction",
    "spectrogram_to_audio",
    "spoken_digit_audio",
    "spoken_transcripts",
]
