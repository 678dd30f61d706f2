using System.Text.Json.Nodes;
using CurvNative.Interop;
using Xunit;

namespace CurvNative.Tests.Interop;

/// <summary>
/// Malformed-input fuzzing of the model.json reader, like <see cref="FuzzTests"/> for safetensors and .npy. The
/// contract: whatever the spec, <see cref="ModelSpec.Parse"/> returns a spec or throws
/// <see cref="CurvNativeFormatException"/> naming the file, its message carries no control character, and an
/// accepted spec builds exactly the parameters it announced (<see cref="ModelSpec.ParameterShapes"/>), within the
/// element cap. Seeded: a failure names the case and the spec text.
/// </summary>
public sealed class ModelSpecFuzzTests
{
    private static readonly JsonNode?[] Values =
    [
        0, -1, 1, 2, 3, int.MaxValue, int.MinValue, 50_000_000, 1e9, 3.5, -0.0, "x", "\u001b]0;t\u0007", "", null, true, false,
        new JsonArray(), new JsonArray(2, 2), new JsonArray(2, 3), new JsonArray(1, 8, 8), new JsonObject(),
    ];

    private static readonly string[] Keys = ["type", "name", "in_features", "out_features", "bias", "in_channels", "out_channels", "kernel_size", "stride", "padding", "reduction", "input_shape", "layers", "loss"];

    private static JsonObject Seed(int which) => which switch
    {
        0 => JsonNode.Parse(File.ReadAllText(NN.PyTorchFixtureTests.Fixture("models", "mlp", "model.json")))!.AsObject(),
        1 => JsonNode.Parse(File.ReadAllText(NN.PyTorchFixtureTests.Fixture("models", "cnn", "model.json")))!.AsObject(),
        _ => JsonNode.Parse(File.ReadAllText(NN.PyTorchFixtureTests.Fixture("models", "mlp_bce", "model.json")))!.AsObject(),
    };

    /// <summary>All objects and arrays of the tree, for picking a place to mutate.</summary>
    private static List<JsonNode> Containers(JsonNode node)
    {
        var list = new List<JsonNode> { node };
        if (node is JsonObject o) foreach (var (_, v) in o) { if (v is JsonObject or JsonArray) list.AddRange(Containers(v)); }
        if (node is JsonArray a) foreach (var v in a) { if (v is JsonObject or JsonArray) list.AddRange(Containers(v!)); }
        return list;
    }

    private static void Mutate(JsonObject spec, Random rng)
    {
        var containers = Containers(spec);
        var target = containers[rng.Next(containers.Count)];
        var value = Values[rng.Next(Values.Length)]?.DeepClone();
        switch (target, rng.Next(3))
        {
            case (JsonObject o, 0) when o.Count > 0: o.Remove(o.ElementAt(rng.Next(o.Count)).Key); break;
            case (JsonObject o, _): o[Keys[rng.Next(Keys.Length)]] = value; break;
            case (JsonArray a, 0) when a.Count > 0: a.RemoveAt(rng.Next(a.Count)); break;
            case (JsonArray a, 1) when a.Count > 0: a.Add(a[rng.Next(a.Count)]?.DeepClone()); break;
            case (JsonArray a, _): if (a.Count > 0) a[rng.Next(a.Count)] = value; else a.Add(value); break;
        }
    }

    [Fact]
    public void AnyMutatedSpecIsAcceptedConsistentlyOrRefusedWithAFormatError()
    {
        var rng = new Random(15);
        int accepted = 0, refused = 0;
        for (int i = 0; i < 1500; i++)
        {
            var spec = Seed(i % 3);
            for (int k = rng.Next(1, 4); k > 0; k--) Mutate(spec, rng);
            string text = spec.ToJsonString();
            string context = $"case {i}: {text}";
            ModelSpec parsed;
            try
            {
                parsed = ModelSpec.Parse(text, "fuzz.json");
            }
            catch (CurvNativeFormatException e)
            {
                Assert.True(e.Message.StartsWith("fuzz.json", StringComparison.Ordinal), $"{context}: {e.Message}");
                Assert.True(!e.Message.Any(char.IsControl), $"{context}: control character in '{Text.Escape(e.Message)}'");
                refused++;
                continue;
            }
            catch (Exception e)
            {
                Assert.Fail($"{context}: {e.GetType().Name}: {e.Message}");
                return;
            }
            accepted++;
            long elements = parsed.ParameterShapes.Sum(p => p.Shape.Aggregate(1L, (a, b) => a * b));
            Assert.True(parsed.ParameterShapes.All(p => p.Shape.Aggregate(1L, (a, b) => a * b) <= ModelSpec.MaxElements), context);
            Assert.Equal(parsed.ParameterShapes.Count, parsed.ParameterShapes.Select(p => p.Name).Distinct().Count());
            if (elements > 1_000_000) continue; // announced but not allocated here: the weights file must match first
            var model = parsed.BuildModel<float>();
            Assert.Equal(parsed.ParameterShapes.Select(p => (p.Name, string.Join(",", p.Shape))),
                model.Parameters().Select(p => (p.Name, string.Join(",", p.Shape.ToArray()))));
        }
        // Both outcomes must be exercised, or the mutations are too weak (or too strong) to test anything.
        Assert.True(accepted > 50 && refused > 500, $"accepted {accepted}, refused {refused}");
    }
}
