package dev.diffusion.core.weights;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class StableDiffusionModelTest {

    private static void assertSameTensors(Weights expected, Weights actual, String what) {
        assertEquals(expected.keys(), actual.keys(), what + " keys");
        for (String key : expected.keys()) {
            assertArrayEquals(expected.info(key).shape(), actual.info(key).shape(), what + " shape of " + key);
            assertArrayEquals(expected.floats(key), actual.floats(key), what + " values of " + key);
        }
    }

    private static WeightsException assertRefused(Path path, String... parts) {
        WeightsException e = assertThrows(WeightsException.class, () -> StableDiffusionModel.open(path).close());
        assertTrue(e.getMessage().contains(path.toString()), "names " + path + ": " + e.getMessage());
        for (String part : parts) {
            assertTrue(e.getMessage().contains(part), "mentions '" + part + "': " + e.getMessage());
        }
        return e;
    }

    private static com.fasterxml.jackson.databind.JsonNode json(String text) throws Exception {
        return new com.fasterxml.jackson.databind.ObjectMapper().readTree(text);
    }

    @Test
    void tinyModelReadsTheSameFromAFolderAndASingleFile() throws Exception {
        Path dir = RawSafeTensors.scratch("tiny-roundtrip");
        ModelParts parts = TinyStableDiffusion.random(7).withTokenizer("{\"a</w>\": 0}", "#version: 0.2\n");
        ModelWriter.writeDiffusersFolder(dir.resolve("tiny-sd"), parts, TensorDtype.F32);
        ModelWriter.writeSingleFile(dir.resolve("tiny-sd.safetensors"), parts, TensorDtype.F32);

        try (StableDiffusionModel folder = StableDiffusionModel.open(dir.resolve("tiny-sd"));
             StableDiffusionModel single = StableDiffusionModel.open(dir.resolve("tiny-sd.safetensors"))) {
            for (StableDiffusionModel m : List.of(folder, single)) {
                assertSameTensors(parts.unet(), m.unet(), m.name() + " unet");
                assertSameTensors(parts.vae(), m.vae(), m.name() + " vae");
                assertSameTensors(parts.textEncoder(), m.textEncoder(), m.name() + " text encoder");
                assertEquals("tiny-sd", m.name());
            }
            assertFalse(folder.isSingleFile());
            assertTrue(single.isSingleFile());
            assertEquals(32, folder.unetConfig().orElseThrow().path("cross_attention_dim").asInt());
            assertEquals(0.18215, folder.vaeConfig().orElseThrow().path("scaling_factor").asDouble());
            assertEquals(2, folder.textEncoderConfig().orElseThrow().path("num_hidden_layers").asInt());
            assertEquals("scaled_linear", folder.schedulerConfig().orElseThrow().path("beta_schedule").asText());
            assertEquals(dir.resolve("tiny-sd").resolve("tokenizer"), folder.tokenizerDir().orElseThrow());
            assertTrue(single.unetConfig().isEmpty() && single.vaeConfig().isEmpty()
                    && single.textEncoderConfig().isEmpty() && single.schedulerConfig().isEmpty()
                    && single.tokenizerDir().isEmpty());
            assertEquals(Files.size(dir.resolve("tiny-sd.safetensors")), single.weightBytes());
            long folderBytes = 0;
            for (String f : List.of("unet/diffusion_pytorch_model.safetensors", "vae/diffusion_pytorch_model.safetensors",
                    "text_encoder/model.safetensors")) {
                folderBytes += Files.size(dir.resolve("tiny-sd").resolve(f));
            }
            assertEquals(folderBytes, folder.weightBytes());
        }

        // the single file really is in the CompVis layout
        try (SafeTensorsFile raw = SafeTensorsFile.open(dir.resolve("tiny-sd.safetensors"))) {
            assertArrayEquals(new long[] {64, 64, 1, 1}, raw.info("first_stage_model.decoder.mid.attn_1.q.weight").shape());
            assertTrue(raw.contains("model.diffusion_model.output_blocks.2.1.conv.weight"), "level-0 upsampler, no attention");
            assertTrue(raw.contains("model.diffusion_model.input_blocks.3.0.op.weight"));
            assertTrue(raw.contains("first_stage_model.decoder.up.1.block.0.conv1.weight"));
            assertTrue(raw.contains("cond_stage_model.transformer.text_model.final_layer_norm.weight"));
            assertEquals(Map.of("format", "pt"), raw.metadata());
            assertEquals(parts.unet().keys().size() + parts.vae().keys().size() + parts.textEncoder().keys().size(),
                    raw.keys().size());
        }
    }

    @Test
    void otherBlockNumberingsRoundTripThroughASingleFile() throws Exception {
        Path dir = RawSafeTensors.scratch("tiny-numbering");
        String unet = TinyStableDiffusion.UNET_CONFIG
                .replace("\"block_out_channels\": [32, 64]", "\"block_out_channels\": [32, 32, 64]")
                .replace("\"layers_per_block\": 2", "\"layers_per_block\": 1")
                .replace("[\"CrossAttnDownBlock2D\", \"DownBlock2D\"]", "[\"DownBlock2D\", \"CrossAttnDownBlock2D\", \"CrossAttnDownBlock2D\"]")
                .replace("[\"UpBlock2D\", \"CrossAttnUpBlock2D\"]", "[\"CrossAttnUpBlock2D\", \"CrossAttnUpBlock2D\", \"UpBlock2D\"]");
        String vae = TinyStableDiffusion.VAE_CONFIG.replace("[32, 64]", "[32, 32, 64]")
                .replace("[\"DownEncoderBlock2D\", \"DownEncoderBlock2D\"]",
                        "[\"DownEncoderBlock2D\", \"DownEncoderBlock2D\", \"DownEncoderBlock2D\"]")
                .replace("[\"UpDecoderBlock2D\", \"UpDecoderBlock2D\"]", "[\"UpDecoderBlock2D\", \"UpDecoderBlock2D\", \"UpDecoderBlock2D\"]");
        ModelParts parts = TinyStableDiffusion.random(3, unet, vae, TinyStableDiffusion.TEXT_ENCODER_CONFIG);
        ModelWriter.writeSingleFile(dir.resolve("odd.safetensors"), parts, TensorDtype.F32);
        ModelWriter.writeDiffusersFolder(dir.resolve("odd"), parts, TensorDtype.F16);
        try (StableDiffusionModel single = StableDiffusionModel.open(dir.resolve("odd.safetensors"));
             StableDiffusionModel folder = StableDiffusionModel.open(dir.resolve("odd"))) {
            assertSameTensors(parts.unet(), single.unet(), "unet");
            assertSameTensors(parts.vae(), single.vae(), "vae");
            assertEquals(parts.unet().keys(), folder.unet().keys());
            assertEquals("F16", folder.unet().info("conv_in.weight").dtype());
        }
    }

    @Test
    void halfPrecisionFilesAgreeBetweenLayouts() throws Exception {
        Path dir = RawSafeTensors.scratch("tiny-f16");
        ModelParts parts = TinyStableDiffusion.random(11);
        ModelWriter.writeDiffusersFolder(dir.resolve("m"), parts, TensorDtype.F16);
        ModelWriter.writeSingleFile(dir.resolve("m.safetensors"), parts, TensorDtype.BF16);
        ModelWriter.writeSingleFile(dir.resolve("m16.safetensors"), parts, TensorDtype.F16);
        try (StableDiffusionModel folder = StableDiffusionModel.open(dir.resolve("m"));
             StableDiffusionModel bf16 = StableDiffusionModel.open(dir.resolve("m.safetensors"));
             StableDiffusionModel f16 = StableDiffusionModel.open(dir.resolve("m16.safetensors"))) {
            assertSameTensors(folder.unet(), f16.unet(), "unet");
            assertSameTensors(folder.vae(), f16.vae(), "vae");
            assertSameTensors(folder.textEncoder(), f16.textEncoder(), "text encoder");
            assertEquals("BF16", bf16.vae().info("decoder.conv_in.weight").dtype());
            float[] exact = parts.vae().floats("decoder.conv_in.weight");
            float[] read = bf16.vae().floats("decoder.conv_in.weight");
            for (int i = 0; i < exact.length; i++) {
                assertEquals(exact[i], read[i], Math.abs(exact[i]) / 256, "bfloat16 keeps 8 bits");
            }
        }
    }

    @Test
    void fp16VariantAndOldVaeAttentionNamesInAFolder() throws Exception {
        Path dir = RawSafeTensors.scratch("variants").resolve("model");
        ModelParts parts = TinyStableDiffusion.random(5);
        ModelWriter.writeDiffusersFolder(dir, parts, TensorDtype.F32);
        Files.move(dir.resolve("unet/diffusion_pytorch_model.safetensors"), dir.resolve("unet/diffusion_pytorch_model.fp16.safetensors"));
        Files.move(dir.resolve("text_encoder/model.safetensors"), dir.resolve("text_encoder/model.fp16.safetensors"));
        // a VAE saved by diffusers before 0.14
        SafeTensorsWriter old = new SafeTensorsWriter(TensorDtype.F32);
        for (String key : parts.vae().keys()) {
            String oldName = key.replace("attentions.0.to_q.", "attentions.0.query.").replace("attentions.0.to_k.", "attentions.0.key.")
                    .replace("attentions.0.to_v.", "attentions.0.value.").replace("attentions.0.to_out.0.", "attentions.0.proj_attn.");
            old.add(oldName, parts.vae().info(key).shape(), parts.vae().floats(key));
        }
        old.write(dir.resolve("vae/diffusion_pytorch_model.safetensors"));
        try (StableDiffusionModel m = StableDiffusionModel.open(dir)) {
            assertSameTensors(parts.unet(), m.unet(), "unet");
            assertSameTensors(parts.vae(), m.vae(), "vae");
            assertSameTensors(parts.textEncoder(), m.textEncoder(), "text encoder");
            assertEquals("model", m.name());
        }
    }

    @Test
    void picklesAreRefusedWithTheReason() throws Exception {
        Path dir = RawSafeTensors.scratch("pickles");
        for (String name : List.of("v1-5-pruned.ckpt", "model.bin", "model.pt", "model.PTH")) {
            Path p = Files.write(dir.resolve(name), new byte[] {(byte) 0x80, 2});
            assertRefused(p, "pickle", "execute arbitrary code", ".safetensors", "diffusers");
        }
        Path folder = dir.resolve("bin-folder");
        ModelWriter.writeDiffusersFolder(folder, TinyStableDiffusion.random(1), TensorDtype.F16);
        Files.delete(folder.resolve("text_encoder/model.safetensors"));
        Files.write(folder.resolve("text_encoder/pytorch_model.bin"), new byte[] {(byte) 0x80});
        assertRefused(folder, "pytorch_model.bin", "pickle", "execute arbitrary code");
    }

    @Test
    void missingPiecesAreNamed() throws Exception {
        Path dir = RawSafeTensors.scratch("missing");
        assertRefused(dir.resolve("nothing-here"), "no such file or folder");
        assertRefused(dir, "model_index.json");
        Path folder = dir.resolve("m");
        ModelWriter.writeDiffusersFolder(folder, TinyStableDiffusion.random(1), TensorDtype.F16);
        Files.delete(folder.resolve("vae/diffusion_pytorch_model.safetensors"));
        assertRefused(folder, "vae/diffusion_pytorch_model.safetensors");
        Files.delete(folder.resolve("unet/config.json"));
        assertRefused(folder, "unet/config.json");
        Path noText = dir.resolve("no-text-encoder.safetensors");
        ModelParts parts = TinyStableDiffusion.random(2);
        new SafeTensorsWriter(TensorDtype.F16)
                .addAll(CompVisKeys.fromConfigs(Optional.of(json(parts.unetConfig())), Optional.of(json(parts.vaeConfig())))
                        .compVisView(parts.unet(), parts.vae(), new MapWeights())).write(noText);
        assertRefused(noText, "text_encoder", "cond_stage_model.transformer.");
        Path notWeights = Files.writeString(dir.resolve("notes.txt"), "hi");
        assertRefused(notWeights, "not a .safetensors file");
    }

    @Test
    void otherGenerationsAreRefused() throws Exception {
        Path dir = RawSafeTensors.scratch("generations");
        Path sd2 = dir.resolve("sd2.safetensors");
        new SafeTensorsWriter(TensorDtype.F16)
                .add("model.diffusion_model.time_embed.0.bias", new long[] {2}, new float[2])
                .add("cond_stage_model.model.token_embedding.weight", new long[] {2, 2}, new float[4])
                .write(sd2);
        assertRefused(sd2, "Stable Diffusion 2.x", "only Stable Diffusion 1.x");
        Path sdxl = dir.resolve("sdxl.safetensors");
        new SafeTensorsWriter(TensorDtype.F16)
                .add("conditioner.embedders.0.transformer.text_model.final_layer_norm.bias", new long[] {2}, new float[2])
                .write(sdxl);
        assertRefused(sdxl, "Stable Diffusion XL", "only Stable Diffusion 1.x");
        Path xlFolder = dir.resolve("xl");
        ModelWriter.writeDiffusersFolder(xlFolder, TinyStableDiffusion.random(1), TensorDtype.F16);
        Files.writeString(xlFolder.resolve("model_index.json"), "{\"_class_name\": \"StableDiffusionXLPipeline\"}");
        assertRefused(xlFolder, "Stable Diffusion XL");
    }

    @Test
    void nonFloatTensorsInANetworkAreRefusedAtOpen() throws Exception {
        Path dir = RawSafeTensors.scratch("int-tensor");
        ModelParts parts = TinyStableDiffusion.random(4);
        Path good = dir.resolve("good.safetensors");
        ModelWriter.writeSingleFile(good, parts, TensorDtype.F16);
        // rewrite the header so that one U-Net tensor claims I16 (same byte size as F16)
        byte[] bytes = Files.readAllBytes(good);
        String text = new String(bytes, java.nio.charset.StandardCharsets.ISO_8859_1);
        String key = "\"model.diffusion_model.input_blocks.0.0.bias\":{\"dtype\":\"F16\"";
        assertTrue(text.contains(key));
        Path bad = dir.resolve("bad.safetensors");
        Files.write(bad, text.replace(key, key.replace("F16", "I16")).getBytes(java.nio.charset.StandardCharsets.ISO_8859_1));
        assertRefused(bad, "model.diffusion_model.input_blocks.0.0.bias", "unsupported dtype I16");
    }

    @Test
    void inferredNumberingOfTheSd15CheckpointIsSd1() throws Exception {
        CompVisKeys inferred = CompVisKeys.fromCheckpointKeys(KeyListWeights.sd15().keys());
        assertEquals(2, inferred.layersPerBlock());
        assertArrayEquals(new boolean[] {false, true, true, true}, inferred.upBlockHasAttention());
        assertEquals(4, inferred.vaeLevels());
    }
}
