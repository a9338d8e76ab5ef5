"""More evaluation-only sources of real deepfakes and their real counterparts (face swaps, talking heads, lip-sync).

Each entry has the fields of ``build_corpus.Source`` (role "eval", kind "git"). Paths are read at the stated commit from
the snapshot ``/work/.mirror/<owner>+<name>/repo`` that ``fetch`` brings. Every included file is under 4 MiB and
present in that snapshot (checked with ``git ls-tree -r -l`` and ``git cat-file -e``). Labels: first matching glob wins.
"""

EXTRA_EVAL_SOURCES = [
    {
        "name": "ghost_faceswap",
        "repo": "ai-forever/ghost",
        "commit": "ea23cce2543a5933a22cbe98bb2973b8550a3ba1",
        "include": (
            "examples/images/*.jpg",
            "examples/images/tgt*.png",
            "examples/images/training/*.png",
            "examples/videos/*.webp",
            "examples/results/result.png",
        ),
        "identity": "source",
        "labels": {
            "examples/videos/orig.webp": (0, "original"),
            "examples/videos/*.webp": (1, "FaceSwap-GHOST"),
            "examples/results/*": (1, "FaceSwap-GHOST"),
            "examples/images/*": (0, "original"),
        },
        "licence": "repository Apache-2.0; photos and clips of public figures of unstated provenance",
        "note": "GHOST (sber-swap, 2022) one-shot face swap. README 'Video Swap Results' shows orig.webp and its swaps "
        "elon.webp, khabenskii.webp, mark.webp (animated WebP; first frame read); examples/results/result.png is "
        "the swap result. Source photos (beckham, elon_musk, mark, murakami), targets tgt1/tgt2 (Dirty Dancing frames) "
        "and the training source/target face crops are real photos. People repeat (Musk, Zuckerberg), so one group.",
    },
    {
        "name": "ghost_target_videos",
        "repo": "ai-forever/ghost",
        "commit": "ea23cce2543a5933a22cbe98bb2973b8550a3ba1",
        "include": ("examples/videos/*.mp4",),
        "identity": "video",
        "labels": {"examples/videos/*.mp4": (0, "original")},
        "licence": "repository Apache-2.0; clips of public music videos / films (unstated provenance)",
        "note": "the real target videos of GHOST's examples: dance.mp4 (the original of orig.webp), dirtydancing.mp4, "
        "nggyup.mp4 (Rick Astley music video).",
    },
    {
        "name": "simswap",
        "repo": "neuralchen/SimSwap",
        "commit": "bd7b7686a17f41dd11cfcd5d82f7e4c5eb94b780",
        "include": (
            "output/result.jpg",
            "docs/img/result_whole_swap_multispecific_512.jpg",
            "crop_224/*.jpg",
            "demo_file/Iron_man.jpg",
            "demo_file/multi_people.jpg",
            "demo_file/specific*.png",
            "docs/img/id/anni.jpg",
            "docs/img/id/chenglong.jpg",
            "docs/img/id/wuyifan.png",
            "docs/img/id/zhoujielun.jpg",
            "docs/img/id/zhuyin.jpg",
        ),
        "identity": "source",
        "labels": {
            "output/*": (1, "FaceSwap-SimSwap"),
            "docs/img/result_*": (1, "FaceSwap-SimSwap"),
            "crop_224/*": (0, "original"),
            "demo_file/*": (0, "original"),
            "docs/img/id/*": (0, "original"),
        },
        "licence": "CC-BY-NC-4.0 (academic and non-commercial use only, per README/LICENSE); photos of public figures",
        "note": "SimSwap outputs: output/result.jpg (default output of test_wholeimage_swapsingle) and "
        "result_whole_swap_multispecific_512.jpg (three faces of multi_people.jpg swapped). Real: source-face crops "
        "crop_224/*, demo_file inputs (Iron_man, multi_people, specific1-3 face frames) and docs/img/id source photos "
        "(duplicate blobs such as docs/img/id/Iron_man.jpg and demo_file/multispecific/* left out).",
    },
    {
        "name": "inswapper",
        "repo": "haofanwang/inswapper",
        "commit": "d52c0d4456fedeabf8d299016876811db8607677",
        "include": ("data/*.jpeg", "result.png"),
        "identity": "source",
        "labels": {"result.png": (1, "FaceSwap-inswapper"), "data/*": (0, "original")},
        "licence": "no licence stated in the repository; inswapper_128 model non-commercial (InsightFace); photos of "
        "public figures of unstated provenance",
        "note": "README: swapper.py with source_img data/man1.jpeg;data/man2.jpeg onto target data/mans1.jpeg gives "
        "result.png (both faces swapped by inswapper_128 + face restoration). The three data/ photos are real.",
    },
    {
        "name": "vexpress_vasa_emo",
        "repo": "tencent-ailab/V-Express",
        "commit": "6814f7db362dc9e26644162034b4d28c5277651a",
        "include": (
            "test_samples/vasa-1/*/gt.mp4",
            "test_samples/short_case/tys/gt.mp4",
            "test_samples/emo/talk_emotion/gt.mp4",
            "test_samples/emo/talk_hb/gt.mp4",
            "test_samples/emo/talk_jocker/gt.mp4",
            "test_samples/emo/talk_kara/gt.mp4",
            "test_samples/short_case/AOC/gt.mp4",
        ),
        "identity": "video",
        "labels": {
            "test_samples/vasa-1/*": (1, "talking-head-VASA-1"),
            "test_samples/short_case/tys/*": (1, "talking-head-VASA-1"),
            "test_samples/emo/*": (1, "talking-head-EMO"),
            "test_samples/short_case/AOC/*": (0, "original"),
        },
        "licence": "V-Express code: academic and commercial use (README); the clips are demo videos of Microsoft "
        "VASA-1 and Alibaba EMO (research demos, no licence stated) and an AOC clip (HDTF-style, research use)",
        "note": "V-Express keeps driving videos (gt.mp4) taken from other generators' demo pages: folder vasa-1/ holds "
        "VASA-1 talking-head results (the source-image inset at the lower left is VASA-1's demo layout; short_case/tys "
        "is one too), folder emo/ holds EMO results (frames marked 'Generated Video'). short_case/AOC/gt.mp4 is a "
        "real clip of Alexandria Ocasio-Cortez. Left out: short_case/10 (a cut of vasa-1/10), emo/talk_mola (Mona Lisa "
        "painting), emo/talk_yomir (anime), the ref.jpg frames. All files are named gt.mp4, so identity by file stem "
        "collapses them into one group.",
    },
    {
        "name": "sadtalker_lipsync",
        "repo": "Zz-ww/SadTalker-Video-Lip-Sync",
        "commit": "131466ed3b544b403d3fdaa1f79213562d3a17fc",
        "include": (
            "sync_show/original.mp4",
            "sync_show/*_50fps.mp4",
            "sync_show/sync_none.mp4",
            "sync_show/retalking.mp4",
            "sync_show/sadtalker.mp4",
            "sync_show/wav2lip.mp4",
        ),
        "identity": "video",
        "labels": {
            "sync_show/original.mp4": (0, "original"),
            "sync_show/retalking.mp4": (1, "lip-sync-VideoReTalking"),
            "sync_show/sadtalker.mp4": (1, "talking-head-SadTalker"),
            "sync_show/wav2lip.mp4": (1, "lip-sync-Wav2Lip"),
            "sync_show/*": (1, "lip-sync-SadTalker-VLS"),
        },
        "licence": "no licence stated in the repository (built on SadTalker, Apache-2.0); the source clip is "
        "video-retalking's examples/face/1.mp4",
        "note": "README section 'Results': original.mp4 is the original video; sync_none, none_dain_50fps, "
        "lip_dain_50fps, face_dain_50fps are this project's lip-sync results, and sadtalker/retalking/wav2lip the same "
        "clip re-synced by those methods. our.mp4 is left out (same blob as face_dain_50fps.mp4).",
    },
    {
        "name": "videoretalking_inputs",
        "repo": "OpenTalker/video-retalking",
        "commit": "d32e8e58248255e2d243eeaf3cba545dbe505ca8",
        "include": ("examples/face/[2-5].mp4",),
        "identity": "video",
        "labels": {"examples/face/*": (0, "original")},
        "licence": "repository Apache-2.0; news/interview clips of public figures of unstated provenance",
        "note": "input face videos of video-retalking (the real clips it re-lip-syncs); 1.mp4 is left out because it "
        "is the same blob as sadtalker_lipsync's original.mp4.",
    },
    {
        "name": "sadtalker_ref_videos",
        "repo": "OpenTalker/SadTalker",
        "commit": "cd4c0465ae0b54a6f85af57f5c65fec9fe23e7f8",
        "include": ("examples/ref_video/*.mp4",),
        "identity": "video",
        "labels": {"examples/ref_video/*": (0, "original")},
        "licence": "repository Apache-2.0; HDTF clips (WDA_* names; YouTube videos, research use)",
        "note": "SadTalker's reference videos (real clips of Alexandria Ocasio-Cortez and Katie Hill, 512x512 HDTF "
        "crops) used for eye-blink/pose reference.",
    },
    {
        "name": "dreamtalk",
        "repo": "ali-vilab/dreamtalk",
        "commit": "ba798b0e586d96a63f61050f7e8e17287ff3c859",
        "include": ("output_video/*.mp4", "data/style_clip/video/*.mp4"),
        "identity": "video",
        "labels": {
            "output_video/*": (1, "talking-head-DreamTalk"),
            "data/style_clip/video/*": (0, "original"),
        },
        "licence": "repository MIT, method for research/non-commercial use only (README); style clips from MEAD "
        "(research use)",
        "note": "README: 'The sample results ... are in the output_video folder' (DreamTalk heads, watermarked; "
        "zp1 is a painted portrait, male_face a generated face; three of them are one result at three super-resolution "
        "settings). data/style_clip/video/* are real MEAD clips (actors M030, W009, W011; 8 emotions each, 256x256), "
        "so 24 'video' identities are only 3 people.",
    },
    {
        "name": "deepfacelive",
        "repo": "iperov/DeepFaceLive",
        "commit": "fc7b787bda2b8c186e142c52857458eea3a935ed",
        "include": ("doc/celebs/Nicola_Badge/Nicola_Badge_2.mp4", "doc/celebs/Dean_Wiesel/Dean_Wiesel_2.mp4"),
        "identity": "video",
        "labels": {"doc/celebs/*": (1, "FaceSwap-DeepFaceLive")},
        "licence": "repository GPL-3.0; streamer footage of unstated provenance",
        "note": "examples of DeepFaceLive's public DFM face models (README: 'These persons do not exist'), swapped "
        "live onto streamers. Only the two single-view clips are taken: the other 51 examples are side-by-side "
        "original|swap videos (real face on the left), which would mix labels within a file.",
    },
    {
        "name": "linly_musev",
        "repo": "Kedreamix/Linly-Talker",
        "commit": "63420719009f603b65e0ef4f4e4d6da164641045",
        "include": (
            "Musetalk/data/video/man_musev.mp4",
            "Musetalk/data/video/musk_musev.mp4",
            "Musetalk/data/video/sit_musev.mp4",
            "Musetalk/data/video/sun_musev.mp4",
        ),
        "identity": "video",
        "labels": {"Musetalk/data/video/*": (1, "AI-video-MuseV")},
        "licence": "repository MIT (README), plus the licences of MuseV/MuseTalk",
        "note": "MuseV-generated portrait videos (README: MuseTalk is run on 'MuseV-generated videos'; names end in "
        "_musev): an AI-generated man, an animated photo of Elon Musk, AI-generated women (sit, sun). Left out: "
        "monalisa_musev (painting), yongen_musev (anime).",
    },
]
