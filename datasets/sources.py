"""Official dataset sources: canonical URLs, file names and md5s, and which parser reads them.

The md5s are those torchvision checks (and, for EMNIST, NIST's published archive). A source file
may also carry `content_md5`, the md5 of its decompressed content, which lets `sharebench import`
verify a re-compressed copy (for example Debian's Fashion-MNIST) without trusting its container.
A file whose publisher gives no md5 has `md5=""`: it is used, but recorded as not checksum-verified,
with the md5 observed. A source with `import_only` (a licence, a registration, a login) is never
downloaded: its images come in through `sharebench import`, and the text says where to get them.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SourceFile:
    name: str
    url: str
    md5: str
    content_md5: str | None = None  # md5 of the gunzipped content, where known


@dataclass(frozen=True)
class Source:
    """A dataset as published: its files per split and the parser that turns them into arrays."""

    name: str
    files: dict[str, tuple[SourceFile, ...]]  # split -> files needed for that split
    parser: str  # key into sharebench.datasets.parsers.PARSERS
    homepage: str = ""
    options: dict = field(default_factory=dict)
    folder: str = ""  # cache / mirror sub-folder; defaults to the name (EMNIST splits share one)
    import_only: str = ""  # where a user obtains the data, for sources that cannot be downloaded
    mirror_import: str = ""  # the path inside a mirror that `import_from_mirror` imports (default: the folder)

    @property
    def directory(self) -> str:
        return self.folder or self.name

    def all_files(self) -> list[SourceFile]:
        seen: dict[str, SourceFile] = {}
        for files in self.files.values():
            for f in files:
                seen.setdefault(f.name, f)
        return list(seen.values())


def _idx_source(name: str, base: str, md5s: dict[str, str], homepage: str,
                content_md5s: dict[str, str] | None = None) -> Source:
    content_md5s = content_md5s or {}

    def f(fname: str) -> SourceFile:
        return SourceFile(fname, base + fname, md5s[fname], content_md5s.get(fname))

    return Source(
        name=name,
        files={
            "train": (f("train-images-idx3-ubyte.gz"), f("train-labels-idx1-ubyte.gz")),
            "test": (f("t10k-images-idx3-ubyte.gz"), f("t10k-labels-idx1-ubyte.gz")),
        },
        parser="idx",
        homepage=homepage,
    )


MNIST = _idx_source(
    "mnist",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "http://yann.lecun.com/exdb/mnist/",
)

FASHION_MNIST = _idx_source(
    "fashion-mnist",
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
    "https://github.com/zalandoresearch/fashion-mnist",
    # Decompressed content of the official files (identical in Debian's dataset-fashion-mnist,
    # which re-compresses them; see ../shared/datasets/MANIFEST.tsv).
    content_md5s={
        "train-images-idx3-ubyte.gz": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "train-labels-idx1-ubyte.gz": "9018921c3c673c538a1fc5bad174d6f9",
        "t10k-images-idx3-ubyte.gz": "8181f5470baa50b63fa0f6fddb340f0a",
        "t10k-labels-idx1-ubyte.gz": "15d484375f8d13e6eb1aabb0c3f46965",
    },
)

KMNIST = _idx_source(
    "kmnist",
    "http://codh.rois.ac.jp/kmnist/dataset/kmnist/",
    {
        "train-images-idx3-ubyte.gz": "bdb82020997e1d708af4cf47b453dcf7",
        "train-labels-idx1-ubyte.gz": "e144d726b3acfaa3e44228e80efcd344",
        "t10k-images-idx3-ubyte.gz": "5c965bf0a639b31b8f53240b1b52f4d7",
        "t10k-labels-idx1-ubyte.gz": "7320c461ea6c1c855c0b718fb2a4b134",
    },
    "https://github.com/rois-codh/kmnist",
)

USPS = Source(
    name="usps",
    files={
        "train": (SourceFile(
            "usps.bz2",
            "https://www.csie.ntu.edu.tw/~cjlin/libsvmtools/datasets/multiclass/usps.bz2",
            "ec16c51db3855ca6c91edd34d0e9b197"),),
        "test": (SourceFile(
            "usps.t.bz2",
            "https://www.csie.ntu.edu.tw/~cjlin/libsvmtools/datasets/multiclass/usps.t.bz2",
            "8ea070ee2aca1ac39742fdd1ef5ed118"),),
    },
    parser="libsvm_usps",
    homepage="https://www.csie.ntu.edu.tw/~cjlin/libsvmtools/datasets/multiclass.html#usps",
)

# The ESL version of USPS (Hastie, Tibshirani & Friedman's zip.train / zip.test: 7,291 / 2,007 digits, 16 x 16,
# values in [-1, 1]), the one ADDA's code reads and the JAE paper's literature rows used. Its pixels differ from
# the LIBSVM file's (correlation about 0.95), so it is a separate source that is never mixed with `usps`. No md5
# is published. The dataset mirror holds the same samples as arrays (usps/usps-kaggle.npz, (x + 1) / 2 rounded to
# uint8), imported explicitly and marked not checksum-verified.
USPS_ESL = Source(
    name="usps-esl",
    files={
        "train": (SourceFile("zip.train.gz", "https://hastie.su.domains/ElemStatLearn/datasets/zip.train.gz", ""),),
        "test": (SourceFile("zip.test.gz", "https://hastie.su.domains/ElemStatLearn/datasets/zip.test.gz", ""),),
    },
    parser="esl_usps",
    homepage="https://hastie.su.domains/ElemStatLearn/data.html",
    mirror_import="usps/usps-kaggle.npz",
)

# CelebA (aligned faces), the JAE paper's men / women reconstruction (Sec. 4.1): the md5s torchvision checks. Google
# Drive serves the 1.4 GB zip behind a confirmation page that a plain download cannot pass: import the two files
# (`sharebench import celeba FOLDER`, their md5s are verified). The parser decodes only the images the suite uses.
CELEBA = Source(
    name="celeba",
    files={"all": (SourceFile("img_align_celeba.zip",
                              "https://drive.google.com/uc?id=0B7EVK8r0v71pZjFTYXZWM3FlRnM",
                              "00d2c5bc6d35e252742224ab0c1e8fcb"),
                   SourceFile("list_attr_celeba.txt",
                              "https://drive.google.com/uc?id=0B7EVK8r0v71pblRyaVFSWGxPY0U",
                              "75e246fa4810816ffd6ee81facbd244c"))},
    parser="celeba_gender",
    homepage="https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html",
    options={"per_gender": 12000, "seed": 666, "crop": 140, "size": 32},
)

# CelebA as faces for GANs (Zhang et al.'s Figure 6, groups G2 and G3): the same two files as `celeba` (one cache and
# mirror folder), parsed as BEGAN's 64 px faces: the centre 108 x 108 of every aligned image (carpedm20's BEGAN
# preprocessing), resized to 64; `count` caps the number (the first in the official order).
CELEBA_FACES = Source(
    name="celeba-faces",
    files=CELEBA.files,
    parser="celeba_faces",
    homepage=CELEBA.homepage,
    options={"count": None, "crop": 108, "size": 64},
    folder="celeba",
)

_EMNIST_ZIP = SourceFile("gzip.zip", "https://biometrics.nist.gov/cs_links/EMNIST/gzip.zip",
                         "58c8d27c78d21e728a6bc7b3cc06412e")


def _emnist(split: str) -> Source:
    return Source(
        name=f"emnist-{split}",
        files={"train": (_EMNIST_ZIP,), "test": (_EMNIST_ZIP,)},
        parser="emnist",
        homepage="https://www.nist.gov/itl/products-and-services/emnist-dataset",
        options={"split": split},
        folder="emnist",
    )


EMNIST_DIGITS = _emnist("digits")
EMNIST_LETTERS = _emnist("letters")

_OMNI = "https://raw.githubusercontent.com/brendenlake/omniglot/master/python/"
OMNIGLOT = Source(
    name="omniglot",
    files={
        "background": (SourceFile("images_background.zip", _OMNI + "images_background.zip",
                                  "68d2efa1b9178cc56df9314c21c6e718"),),
        "evaluation": (SourceFile("images_evaluation.zip", _OMNI + "images_evaluation.zip",
                                  "6b91aef0f799c5bb55b94e3f2daec811"),),
    },
    parser="omniglot",
    homepage="https://github.com/brendenlake/omniglot",
)

CIFAR10 = Source(
    name="cifar10",
    files={split: (SourceFile("cifar-10-python.tar.gz",
                              "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                              "c58f30108f718f92721af3b95e74349a"),) for split in ("train", "test")},
    parser="cifar",
    homepage="https://www.cs.toronto.edu/~kriz/cifar.html",
    options={"variant": "cifar10"},
)

CIFAR100 = Source(
    name="cifar100",
    files={split: (SourceFile("cifar-100-python.tar.gz",
                              "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
                              "eb9058c3a382ffc7106e4002c42a8d85"),) for split in ("train", "test")},
    parser="cifar",
    homepage="https://www.cs.toronto.edu/~kriz/cifar.html",
    options={"variant": "cifar100"},
)

STL10 = Source(  # the labelled splits (5,000 / 8,000 at 96 px); the 100,000 unlabelled images are not read
    name="stl10",
    files={split: (SourceFile("stl10_binary.tar.gz", "http://ai.stanford.edu/~acoates/stl10/stl10_binary.tar.gz",
                              "91f7769df0f17e558f3565bffb0c7dfb"),) for split in ("train", "test")},
    parser="stl10",
    homepage="https://cs.stanford.edu/~acoates/stl10/",
)

SVHN = Source(
    name="svhn",
    files={
        "train": (SourceFile("train_32x32.mat", "http://ufldl.stanford.edu/housenumbers/train_32x32.mat",
                             "e26dedcc434d2e4c54c9b2d4a06d8373"),),
        "test": (SourceFile("test_32x32.mat", "http://ufldl.stanford.edu/housenumbers/test_32x32.mat",
                            "eb5a983be6a315427106f1b164d9cef3"),),
    },
    parser="svhn",
    homepage="http://ufldl.stanford.edu/housenumbers/",
)

# ----------------------------------------------------------------------------- Bilen & Vedaldi's decathlon
# Images of any size are resized to `store_size` px while they are read (the paper uses at most 64), so that a
# domain of 30,000 photographs stays a few hundred MB.

_GTSRB = "https://sid.erda.dk/public/archives/daaeac0d7ce1152aea9b61d9f1e19370/"
GTSRB = Source(  # the official benchmark split (39,209 / 12,630), not torchvision's 26,640-image "fixed" archive
    name="gtsrb",
    files={
        # md5s as recorded by public loaders of these archives; the benchmark's authors publish none
        "train": (SourceFile("GTSRB_Final_Training_Images.zip", _GTSRB + "GTSRB_Final_Training_Images.zip",
                             "f33fd80ac59bff73c82d25ab499e03a3"),),
        "test": (SourceFile("GTSRB_Final_Test_Images.zip", _GTSRB + "GTSRB_Final_Test_Images.zip",
                            "c7e4e6327067d32654124b0fe9e82185"),
                 SourceFile("GTSRB_Final_Test_GT.zip", _GTSRB + "GTSRB_Final_Test_GT.zip",
                            "fe31e9c9270bbcd7b84b7f21a9d9d9e5")),
    },
    parser="gtsrb",
    homepage="https://benchmark.ini.rub.de/gtsrb_dataset.html",
    options={"store_size": 64},
)

CALTECH256 = Source(  # one archive, no official split: suites carve 80/20; the clutter class is kept (257)
    name="caltech256",
    files={"all": (SourceFile("256_ObjectCategories.tar",
                              "https://data.caltech.edu/records/nyy15-4j048/files/256_ObjectCategories.tar",
                              "67b4f42ca05d46448c6bb8ecd2220f6d"),)},
    parser="class_folders",
    homepage="https://data.caltech.edu/records/nyy15-4j048",
    options={"store_size": 64},
)

SKETCHES = Source(  # TU Berlin sketches (Eitz et al. 2012): 250 classes x 80 PNGs of 1111 x 1111 px
    name="sketches",
    files={"all": (SourceFile("sketches_png.zip",
                              "https://cybertron.cg.tu-berlin.de/eitz/projects/classifysketch/sketches_png.zip",
                              ""),)},
    parser="class_folders",
    homepage="https://cybertron.cg.tu-berlin.de/eitz/projects/classifysketch/",
    options={"store_size": 64},
)

def _imported_class_folders(name: str, homepage: str, import_only: str, **options) -> Source:
    """A source that cannot be downloaded: images in one folder per class, brought in by `sharebench import`."""
    return Source(name=name, files={}, parser="class_folders", homepage=homepage,
                  options={"store_size": 64, **options}, import_only=import_only)


AWA = _imported_class_folders(
    "awa", "https://cvml.ist.ac.at/AwA2/",
    "the original Animals with Attributes images (2009, 30,475 images, 50 classes) are no longer "
    "distributed; import a copy you hold (`sharebench import awa <folder of class folders>`), or "
    "AwA2 (same 50 classes, 37,322 images, https://cvml.ist.ac.at/AwA2/, its JPEGImages folder) as a "
    "substitute, which the suite's notes then must say")

DAIMLER = _imported_class_folders(
    "daimler", "https://www.mpi-inf.mpg.de/departments/computer-vision-and-machine-learning/research/"
               "pedestrian-detection",
    "the Daimler Mono Pedestrian Classification Benchmark is distributed after a licence agreement; "
    "import its base folder (sets 1, 2, 3 train, T1, T2 test; each with ped_examples and "
    "non-ped_examples): `sharebench import daimler <DC-ped-dataset_base>`",
    split_folders={"train": ["1", "2", "3"], "test": ["T1", "T2"]})

PLANKTON = _imported_class_folders(
    "plankton", "https://www.kaggle.com/c/datasciencebowl",
    "the plankton images (Kaggle National Data Science Bowl 2015, 30,336 labelled images in 121 "
    "classes; also NOAA NCEI accession 0127422) need a login; import the labelled training folder "
    "(one folder per class): `sharebench import plankton <train>`")

# ----------------------------------------------------------------------------- Zhang et al.'s fine-grained five
# (Figure 4, paper profile): official splits, stored as 320 px squares (datasets/fine_grained.py).
_FINE = {"store_size": 320, "square": True}
CUB = Source(
    name="cub",
    files={split: (SourceFile("CUB_200_2011.tgz", "https://data.caltech.edu/records/65de6-vp158/files/CUB_200_2011.tgz",
                              "97eceeb196236b17998738112f37df78"),) for split in ("train", "test")},
    parser="cub", homepage="https://www.vision.caltech.edu/datasets/cub_200_2011/", options=_FINE)

_FLOWERS = "https://www.robots.ox.ac.uk/~vgg/data/flowers/102/"
FLOWERS102 = Source(
    name="flowers102",
    files={split: (SourceFile("102flowers.tgz", _FLOWERS + "102flowers.tgz", "52808999861908f626f3c1f4e79d11fa"),
                   SourceFile("imagelabels.mat", _FLOWERS + "imagelabels.mat", "e0620be6f572b9609742df49c70aed4d"),
                   SourceFile("setid.mat", _FLOWERS + "setid.mat", "a5357ecc9cb78c4bef273ce3793fc85c"))
           for split in ("train", "test")},
    parser="flowers102", homepage=_FLOWERS, options=_FINE)

_DOGS = "http://vision.stanford.edu/aditya86/ImageNetDogs/"
STANFORD_DOGS = Source(  # no md5 is published: used, and recorded as not checksum-verified with the md5 observed
    name="stanford-dogs",
    files={split: (SourceFile("images.tar", _DOGS + "images.tar", ""), SourceFile("lists.tar", _DOGS + "lists.tar", ""))
           for split in ("train", "test")},
    parser="stanford_dogs", homepage=_DOGS, options=_FINE)

FGVC_AIRCRAFT = Source(  # no md5 is published (torchvision checks none either)
    name="fgvc-aircraft",
    files={split: (SourceFile("fgvc-aircraft-2013b.tar.gz", "https://www.robots.ox.ac.uk/~vgg/data/fgvc-aircraft/"
                              "archives/fgvc-aircraft-2013b.tar.gz", ""),) for split in ("train", "test")},
    parser="fgvc_aircraft", homepage="https://www.robots.ox.ac.uk/~vgg/data/fgvc-aircraft/", options=_FINE)

STANFORD_CARS = _imported_class_folders(
    "stanford-cars", "https://ai.stanford.edu/~jkrause/cars/car_dataset.html",
    "Stanford Cars' official URLs no longer serve the images; import a copy of its official split (8,144 training, "
    "8,041 test images, 196 classes) as class folders under train/ and test/ (for example the widely mirrored "
    "`car_data` folder): `sharebench import stanford-cars <folder with train/ and test/>`", **_FINE)

ZHANG_IMAGENET_8 = _imported_class_folders(  # Zhang et al.'s image completion data (Sec. 5.3), 64 px squares
    "zhang-imagenet-8", "https://www.image-net.org/",
    "Zhang et al.'s eight completion datasets were \"retrieved from ImageNet, and sampled from the five fine-grained "
    "classification datasets\" and are not published; import at least 600 images per class as eight class folders "
    "named bird, dog, wolf, flower, car, truck, fighter-aircraft, plane (specs/zhang.md 7 item 17 suggests bird from "
    "CUB, dog from Stanford Dogs, wolf from ImageNet n02114367/n02114548/n02114712, flower from Flowers-102, car from "
    "Stanford Cars, truck from n04467665/n03417042/n03796401, fighter from n04552348, plane from n02690373): "
    "`sharebench import zhang-imagenet-8 <folder>`", store_size=64, square=True)

ZHANG_DRESSES = _imported_class_folders(  # Zhang et al.'s Figure 1 and Figure 6 group G2, 64 px squares
    "zhang-dresses", "https://github.com/zhangxiaoxiao/",
    "Zhang et al.'s 20K black-dress images were \"crawled from the web\" and are not published; import your own dress "
    "images (product photos, one dress per image) as one class folder: `sharebench import zhang-dresses <folder "
    "holding dress/>`", store_size=64, square=True)

ZHANG_WALKING = _imported_class_folders(  # Zhang et al.'s Figure 6 group G1, 64 px squares
    "zhang-walking", "",
    "Zhang et al.'s walking people (3K real video snapshots from their reference [3], lost with the bibliography, and "
    "10K synthetic images of their own) are not published; import two class folders named real and synthetic: "
    "`sharebench import zhang-walking <folder holding real/ and synthetic/>`", store_size=64, square=True)

SOURCES: dict[str, Source] = {s.name: s for s in (
    MNIST, FASHION_MNIST, KMNIST, USPS, USPS_ESL, EMNIST_DIGITS, EMNIST_LETTERS, OMNIGLOT, CIFAR10, CIFAR100,
    STL10, SVHN,
    GTSRB, CALTECH256, SKETCHES, AWA, DAIMLER, PLANKTON, CELEBA, CUB, FLOWERS102, STANFORD_DOGS, FGVC_AIRCRAFT,
    STANFORD_CARS, ZHANG_IMAGENET_8, CELEBA_FACES, ZHANG_DRESSES, ZHANG_WALKING,
)}


def get_source(name: str) -> Source:
    try:
        return SOURCES[name]
    except KeyError:
        raise KeyError(f"unknown source {name!r}; known: {', '.join(sorted(SOURCES))}") from None
