package dev.diffusion.orchestrator.http;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.diffusion.core.pipeline.InvalidRequestException;
import org.junit.jupiter.api.Test;

/** The request-field rules of the HTTP APIs that need no running suite (HttpApiIT checks the rest end to end). */
class HttpFieldsTest {
    static final ObjectMapper JSON = new ObjectMapper();

    static JsonNode json(String text) throws Exception {
        return JSON.readTree(text);
    }

    @Test
    void a1111FieldsAtTheirDefaultsAreAcceptedOthersNamed() throws Exception {
        // what A1111 clients send when they post the whole model with its defaults
        assertDoesNotThrow(() -> A1111Resource.checkFields(json("""
                {"prompt": "x", "enable_hr": false, "restore_faces": null, "tiling": false, "styles": [], "subseed": -1,
                 "subseed_strength": 0, "seed_resize_from_h": -1, "seed_resize_from_w": 0, "s_churn": 0.0, "s_noise": 1,
                 "script_name": null, "script_args": [], "alwayson_scripts": {}, "hr_scale": 2, "hr_upscaler": "Latent",
                 "denoising_strength": 0.7, "sampler_index": "Euler"}"""), false));
        InvalidRequestException e = assertThrows(InvalidRequestException.class,
                () -> A1111Resource.checkFields(json("{\"prompt\": \"x\", \"tiling\": true, \"s_noise\": 0.5}"), false));
        assertEquals("tiling", e.field());
        assertTrue(e.getMessage().contains("tiling, s_noise"), e.getMessage());
        assertEquals("subseed_strength", assertThrows(InvalidRequestException.class,
                () -> A1111Resource.checkFields(json("{\"subseed_strength\": 0.25}"), false)).field());
        assertEquals("cfg", assertThrows(InvalidRequestException.class,
                () -> A1111Resource.checkFields(json("{\"cfg\": 7}"), false)).field()); // unknown, not ignored
        // img2img's own fields are not txt2img's
        assertEquals("init_images", assertThrows(InvalidRequestException.class,
                () -> A1111Resource.checkFields(json("{\"init_images\": []}"), false)).field());
        assertDoesNotThrow(() -> A1111Resource.checkFields(json("{\"init_images\": [], \"mask\": null, \"mask_blur\": 4}"), true));
        // inpainting: a mask is img2img's (read with its settings by inpaint()), not txt2img's
        assertDoesNotThrow(() -> A1111Resource.checkFields(json("{\"mask\": \"iVBOR...\", \"inpainting_fill\": 1}"), true));
        assertEquals("mask", assertThrows(InvalidRequestException.class,
                () -> A1111Resource.checkFields(json("{\"mask\": \"iVBOR...\"}"), false)).field());
        // A1111 1.8's firstpass_image (default None) and webuiapi's image_cfg_scale (1.5; read for pix2pix models only)
        assertDoesNotThrow(() -> A1111Resource.checkFields(json("{\"firstpass_image\": null}"), false));
        assertDoesNotThrow(() -> A1111Resource.checkFields(json("{\"image_cfg_scale\": 1.5}"), true));
        // unused fields still have A1111's types
        assertEquals("hr_scale", assertThrows(InvalidRequestException.class,
                () -> A1111Resource.checkFields(json("{\"hr_scale\": \"abc\"}"), false)).field());
        assertEquals("do_not_save_grid", assertThrows(InvalidRequestException.class,
                () -> A1111Resource.checkFields(json("{\"do_not_save_grid\": \"x\"}"), false)).field());
        assertEquals("denoising_strength", assertThrows(InvalidRequestException.class,
                () -> A1111Resource.checkFields(json("{\"denoising_strength\": \"abc\"}"), false)).field());
    }

    @Test
    void a1111FieldNamesOfJobFields() {
        assertEquals("batch_size", A1111Resource.a1111Field("batch_count"));
        assertEquals("denoising_strength", A1111Resource.a1111Field("strength"));
        assertEquals("override_settings.CLIP_stop_at_last_layers", A1111Resource.a1111Field("clip_skip"));
        assertEquals("override_settings.comma_padding_backtrack", A1111Resource.a1111Field("comma_padding_backtrack"));
        assertEquals("override_settings.pad_cond_uncond", A1111Resource.a1111Field("pad_cond_uncond"));
        assertEquals("steps", A1111Resource.a1111Field("steps"));
        assertEquals("force_task_id", A1111Resource.a1111Field("job_id"));
        assertEquals("prompt", A1111Resource.a1111Field("loras")); // <lora:...> tags are in the prompt
    }

    @Test
    void typedReadsNameTheField() throws Exception {
        JsonFields f = new JsonFields(json("{\"n\": 2.0, \"steps\": \"3\", \"cfg\": \"x\", \"seed\": 1e30}"), "sd.");
        assertEquals(2, f.int32("n", 1)); // 2.0 is an integer, as JSON has one number type
        assertEquals(3, f.int32("steps", 0)); // multipart form fields arrive as text
        assertEquals("sd.cfg", assertThrows(InvalidRequestException.class, () -> f.number("cfg", 7)).field());
        assertEquals("sd.seed", assertThrows(InvalidRequestException.class, () -> f.integer("seed", -1)).field());
        assertEquals(20, f.int32("absent", 20));
        assertArrayEquals(new int[] {512, 768}, JsonFields.size("size", "512x768"));
        assertEquals("size", assertThrows(InvalidRequestException.class, () -> JsonFields.size("size", "512")).field());
        assertArrayEquals(new int[] {72, 2048}, JsonFields.size("size", "72x2048"));
        // a 0 side would reach the job as proto3's "not set" (the native size): refused here, as are other spellings
        for (String bad : new String[] {"0x0", "0x64", "64x0", " 64x64", "00064x64", "64X64", "+64x64", "65x64", "56x64",
                "64x2056"}) {
            assertEquals("size", assertThrows(InvalidRequestException.class, () -> JsonFields.size("size", bad)).field(), bad);
        }
        assertTrue(OpenAiImagesResource.isJson("application/json; charset=utf-8"));
        assertTrue(OpenAiImagesResource.isJson("Application/JSON"));
        assertTrue(OpenAiImagesResource.isJson("application/merge-patch+json"));
        assertFalse(OpenAiImagesResource.isJson("text/plain"));
        assertFalse(OpenAiImagesResource.isJson("application/x-www-form-urlencoded"));
        assertFalse(OpenAiImagesResource.isJson("multipart/form-data; boundary=x"));
        assertArrayEquals(new byte[] {1, 2, 3}, JsonFields.base64("image", "data:image/png;base64,AQID"));
        // text that decodes to no bytes is no image (the MIME decoder skips what is not base64)
        for (String nothing : new String[] {"", "   ", "!!!", "data:image/png;base64,", "data:image/png;base64,@@@"}) {
            assertEquals("init_images", assertThrows(InvalidRequestException.class,
                    () -> JsonFields.base64("init_images", nothing)).field(), nothing);
        }
    }
}
