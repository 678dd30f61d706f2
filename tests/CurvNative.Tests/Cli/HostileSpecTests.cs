using System.Text.Json.Nodes;
using CurvNative.Interop;
using CurvNative.Tests.Interop;
using Xunit;
using static CurvNative.Tests.Cli.CliRunner;

namespace CurvNative.Tests.Cli;

/// <summary>
/// Hostile model specs (issue 15, bugs 4, 5, 7 and 8 and the spec values of the weaker spots): each is refused with
/// one line that names the file and key, before anything large is allocated, with no control character from the
/// spec on stderr.
/// </summary>
public sealed class HostileSpecTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private string[] Args(string modelPath) =>
        ["loss", "--model", modelPath, "--weights", CliRunner.Model("mlp", "weights.safetensors"), "--data", CliRunner.Model("mlp", "data.safetensors")];

    /// <summary>The mlp fixture's spec with one edit, written to the temporary directory.</summary>
    private string Spec(Action<JsonObject> edit)
    {
        var spec = JsonNode.Parse(File.ReadAllText(CliRunner.Model("mlp", "model.json")))!.AsObject();
        edit(spec);
        var path = _dir.File("model.json");
        File.WriteAllText(path, spec.ToJsonString());
        return path;
    }

    private static JsonObject Layer(JsonObject spec, int i) => spec["layers"]![i]!.AsObject();

    private static void AssertRefused(CliRun run, params string[] mentions)
    {
        Assert.True(run.ExitCode == 1, run.ToString());
        Assert.Equal("", run.Out);
        var line = Assert.Single(run.ErrorLines);
        Assert.StartsWith("curvnative: error: ", line);
        foreach (var m in mentions) Assert.True(line.Contains(m, StringComparison.Ordinal), $"stderr should mention \"{m}\": {line}");
    }

    [Fact]
    public void AHugeLayerIsCheckedAgainstTheWeightsBeforeAnythingIsAllocated()
    {
        var path = Spec(s => Layer(s, 4)["out_features"] = 5_000_000); // 60 M elements: under the cap, so only the weights can refuse it
        long before = GC.GetAllocatedBytesForCurrentThread();
        var run = Run(Args(path));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        AssertRefused(run, "weights.safetensors", "'4.weight'", "expected shape [5000000, 16], found [5, 16]");
        Assert.True(allocated < 64L << 20, $"{allocated >> 20} MB allocated before the shape error (the weights are 2 KB)");
    }

    [Theory]
    [InlineData("padding", 1_000_000, "produces")]
    [InlineData("out_channels", 1_000_000_000, "weight of [1000000000, 1, 3, 3]")]
    public void AConvolutionBeyondTheElementCapIsRefusedFromTheSpecAlone(string key, int value, string mention)
    {
        var path = _dir.File("conv.json");
        var conv = new JsonObject { ["type"] = "conv2d", ["name"] = "c", ["in_channels"] = 1, ["out_channels"] = 2, ["kernel_size"] = 3 };
        conv[key] = value;
        File.WriteAllText(path, new JsonObject
        {
            ["input_shape"] = new JsonArray(1, 8, 8),
            ["layers"] = new JsonArray(conv, new JsonObject { ["type"] = "flatten" }),
            ["loss"] = new JsonObject { ["type"] = "mse" },
        }.ToJsonString());
        long before = GC.GetAllocatedBytesForCurrentThread();
        var run = Run(Args(path));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 64L << 20);
        AssertRefused(run, "conv.json", "layers[0] (conv2d)", mention, $"at most {ModelSpec.MaxElements}");
    }

    [Fact]
    public void ADeviceAsModelSpecIsRefusedWithoutReadingIt()
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        var run = Run(Args("/dev/zero"));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 64L << 20);
        AssertRefused(run, "/dev/zero", "character device", "regular");
    }

    [Fact]
    public void AnOversizedModelSpecIsRefused()
    {
        var path = _dir.File("big.json");
        File.WriteAllText(path, "{\"input_shape\": [12], \"pad\": \"" + new string('x', ModelSpec.MaxSpecBytes) + "\"}");
        AssertRefused(Run(Args(path)), "big.json", $"larger than {ModelSpec.MaxSpecBytes} bytes");
    }

    [Fact]
    public void DuplicateLayerNamesAreRefused()
    {
        var path = Spec(s => Layer(s, 2)["name"] = "0");
        AssertRefused(Run(Args(path)), "model.json", "layers[2] and layers[0] are both named '0'", "unique");
    }

    public static TheoryData<string, string> InjectedFields() => new()
    {
        { "layer type", "\u001b]0;pwned\u0007\u001b[2J" },
        { "layer name", "\u001b[2J\u001b]0;pwned\u0007" },
        { "loss type", "x\u001b]0;pwned\u0007\u202e" },
        { "reduction", "\u009b2J\u0007" },
    };

    [Theory]
    [MemberData(nameof(InjectedFields))]
    public void ControlCharactersFromTheSpecNeverReachStderr(string field, string payload)
    {
        var path = Spec(s =>
        {
            switch (field)
            {
                case "layer type": Layer(s, 1)["type"] = payload; break;
                case "layer name": Layer(s, 0)["name"] = payload; Layer(s, 2)["name"] = payload; break;
                case "loss type": s["loss"]!["type"] = payload; break;
                default: s["loss"]!["reduction"] = payload; break;
            }
        });
        var run = Run(Args(path));
        AssertRefused(run, "model.json", payload.Contains('\u001b') ? "\\u001b" : "\\u009b");
        Assert.DoesNotContain(run.Error, c => c is < ' ' and not '\n' and not '\r' || c is >= '\u007f' and <= '\u009f' || c == '\u202e');
    }

    [Theory]
    [InlineData(0, "out_features", 0, "layers[0] (linear).out_features must be at least 1, got 0")]
    [InlineData(0, "out_features", -4, "layers[0] (linear).out_features must be at least 1, got -4")]
    [InlineData(0, "in_features", 0, "layers[0] (linear).in_features must be at least 1, got 0")]
    public void NonPositiveSizesNameTheKey(int layer, string key, int value, string mention)
    {
        var path = Spec(s => Layer(s, layer)[key] = value);
        AssertRefused(Run(Args(path)), "model.json", mention);
    }

    [Theory]
    [InlineData("conv2d", "stride", 0, "layers[0] (conv2d).stride must be at least 1, got 0")]
    [InlineData("conv2d", "kernel_size", 0, "layers[0] (conv2d).kernel_size must be at least 1, got 0")]
    [InlineData("conv2d", "padding", -1, "layers[0] (conv2d).padding must be non-negative, got -1")]
    [InlineData("maxpool2d", "kernel_size", 0, "layers[0] (maxpool2d).kernel_size must be at least 1, got 0")]
    [InlineData("avgpool2d", "stride", 0, "layers[0] (avgpool2d).stride must be at least 1, got 0")]
    public void ZeroStridesAndKernelsNameTheKey(string type, string key, int value, string mention)
    {
        var layer = type == "conv2d"
            ? new JsonObject { ["type"] = "conv2d", ["in_channels"] = 1, ["out_channels"] = 2, ["kernel_size"] = 3 }
            : new JsonObject { ["type"] = type, ["kernel_size"] = 2 };
        layer[key] = value;
        var path = _dir.File("model.json");
        File.WriteAllText(path, new JsonObject
        {
            ["input_shape"] = new JsonArray(1, 8, 8),
            ["layers"] = new JsonArray(layer, new JsonObject { ["type"] = "flatten" }),
            ["loss"] = new JsonObject { ["type"] = "mse" },
        }.ToJsonString());
        AssertRefused(Run(Args(path)), "model.json", mention);
    }
}
