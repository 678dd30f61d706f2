using System.Globalization;
using System.Numerics;
using System.Text.Json;
using CurvNative.NN.Losses;
using CurvNative.NN.Modules;

namespace CurvNative.Interop;

/// <summary>One layer of a model spec, as written in model.json.</summary>
public sealed record LayerSpec(string Type, string? Name, IReadOnlyDictionary<string, JsonElement> Options);

/// <summary>
/// A model spec (<c>model.json</c>): input shape, a sequence of layers equivalent to a PyTorch
/// nn.Sequential and a loss, e.g.
/// <c>{"input_shape": [12], "layers": [{"type": "linear", "name": "0", "in_features": 12,
/// "out_features": 16, "bias": true}, {"type": "tanh"}], "loss": {"type": "cross_entropy", "reduction": "mean"}}</c>.
/// Layer types: linear, conv2d, relu, tanh, sigmoid, gelu, sin, cos, exp, softplus (PyTorch defaults: beta 1, threshold 20),
/// flatten, maxpool2d, avgpool2d. The loss may be omitted for commands that need none (<c>pde</c>); <see cref="BuildLoss{T}"/> then fails.
/// Loss types: cross_entropy, mse, bce_with_logits; reductions mean and sum.
/// </summary>
public sealed class ModelSpec
{
    private ModelSpec(string path, int[] inputShape, IReadOnlyList<LayerSpec> layers, string? lossType, Reduction reduction)
    {
        Path = path; InputShape = inputShape; Layers = layers; LossType = lossType; Reduction = reduction;
    }

    public string Path { get; }
    public int[] InputShape { get; }
    public IReadOnlyList<LayerSpec> Layers { get; }
    /// <summary>The loss type, or null when the spec has no 'loss'.</summary>
    public string? LossType { get; }
    public Reduction Reduction { get; }

    /// <summary>True when targets are class indices (cross-entropy).</summary>
    public bool UsesClassIndices => LossType == "cross_entropy";

    private static readonly string[] LayerTypes = ["linear", "conv2d", "relu", "tanh", "sigmoid", "gelu", "sin", "cos", "exp", "softplus", "flatten", "maxpool2d", "avgpool2d"];
    private static readonly string[] LossTypes = ["cross_entropy", "mse", "bce_with_logits"];

    /// <summary>Reads and validates a spec; errors name the file and the offending entry.</summary>
    public static ModelSpec Load(string path)
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        { throw new CurvNativeFormatException(path, null, $"cannot read the model spec ({e.Message})."); }
        return Parse(text, path);
    }

    /// <summary>Parses spec text; <paramref name="path"/> only names the source in errors.</summary>
    public static ModelSpec Parse(string json, string path = "model.json")
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(json); }
        catch (JsonException e) { throw new CurvNativeFormatException(path, null, $"not valid JSON ({e.Message})."); }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new CurvNativeFormatException(path, null, $"expected a JSON object at the top level, got {root.ValueKind}.");
            var inputShape = IntArray(Require(root, "input_shape", path, "the top level"), path, "input_shape");
            if (inputShape.Length == 0 || inputShape.Any(d => d < 1))
                throw new CurvNativeFormatException(path, null, $"input_shape must be a non-empty list of positive integers, got [{string.Join(", ", inputShape)}].");

            var layersEl = Require(root, "layers", path, "the top level");
            if (layersEl.ValueKind != JsonValueKind.Array) throw new CurvNativeFormatException(path, null, $"'layers' must be a list, got {layersEl.ValueKind}.");
            var layers = new List<LayerSpec>();
            int index = 0;
            foreach (var l in layersEl.EnumerateArray())
            {
                string where = $"layers[{index}]";
                if (l.ValueKind != JsonValueKind.Object) throw new CurvNativeFormatException(path, null, $"{where} must be an object.");
                var type = Str(Require(l, "type", path, where), path, $"{where}.type");
                if (!LayerTypes.Contains(type))
                    throw new CurvNativeFormatException(path, null, $"{where} has unknown layer type '{type}'; expected one of {string.Join(", ", LayerTypes)}.");
                string? name = l.TryGetProperty("name", out var n) ? Str(n, path, $"{where}.name") : null;
                if (type is "linear" or "conv2d") name ??= index.ToString(CultureInfo.InvariantCulture);
                var options = l.EnumerateObject().Where(p => p.Name is not ("type" or "name")).ToDictionary(p => p.Name, p => p.Value.Clone());
                layers.Add(new LayerSpec(type, name, options));
                index++;
            }
            if (layers.Count == 0) throw new CurvNativeFormatException(path, null, $"'layers' is empty.");

            string? lossType = null;
            var reduction = Reduction.Mean;
            if (root.TryGetProperty("loss", out var lossEl))
            {
                lossType = Str(Require(lossEl, "type", path, "loss"), path, "loss.type");
                if (!LossTypes.Contains(lossType))
                    throw new CurvNativeFormatException(path, null, $"unknown loss type '{lossType}'; expected one of {string.Join(", ", LossTypes)}.");
                var reductionText = lossEl.TryGetProperty("reduction", out var r) ? Str(r, path, "loss.reduction") : "mean";
                reduction = reductionText switch
                {
                    "mean" => Reduction.Mean,
                    "sum" => Reduction.Sum,
                    _ => throw new CurvNativeFormatException(path, null, $"loss.reduction must be 'mean' or 'sum', got '{reductionText}'."),
                };
            }
            var spec = new ModelSpec(path, inputShape, layers, lossType, reduction);
            spec.OutputShape = spec.Walk<double>(null, null);
            if (spec.UsesClassIndices && spec.OutputShape.Length != 1)
                throw new CurvNativeFormatException(path, null, $"cross_entropy needs logits [N, C] but the layers produce per-sample shape [{string.Join(", ", spec.OutputShape)}].");
            return spec;
        }
    }

    /// <summary>Builds the model (PyTorch default initialisation, seeded) and checks that the
    /// layers chain: each layer's input shape is what the previous layer produces.</summary>
    public Sequential<T> BuildModel<T>(int seed = 0) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var modules = new List<Module<T>>();
        Walk(new Random(seed), modules);
        return new Sequential<T>([.. modules]);
    }

    /// <summary>Follows the layers' shapes from the input; creates the modules when a list is given.</summary>
    private int[] Walk<T>(Random? rng, List<Module<T>>? modules) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var shape = InputShape;
        for (int i = 0; i < Layers.Count; i++)
        {
            var l = Layers[i];
            string where = $"layers[{i}] ({l.Type})";
            int Int(string key, int? fallback = null)
            {
                if (l.Options.TryGetValue(key, out var el))
                {
                    if (el.ValueKind == JsonValueKind.Array)
                    {
                        // PyTorch writes kernel_size/stride/padding as pairs too; only square values are supported.
                        var pair = IntArray(el, Path, $"{where}.{key}");
                        if (pair.Length != 2 || pair[0] != pair[1])
                            throw new CurvNativeFormatException(Path, null, $"{where}.{key} must be an integer or a square pair, got [{string.Join(", ", pair)}].");
                        return pair[0];
                    }
                    if (el.ValueKind != JsonValueKind.Number || !el.TryGetInt32(out var v))
                        throw new CurvNativeFormatException(Path, null, $"{where}.{key} must be an integer, got {el.GetRawText()}.");
                    return v;
                }
                return fallback ?? throw new CurvNativeFormatException(Path, null, $"{where} is missing '{key}'.");
            }
            bool Bool(string key) => !l.Options.TryGetValue(key, out var el) || el.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                _ => throw new CurvNativeFormatException(Path, null, $"{where}.{key} must be true or false, got {el.GetRawText()}."),
            };
            void Expect(bool ok, string expected)
            {
                if (!ok) throw new CurvNativeFormatException(Path, null, $"{where} expects input {expected} but the previous layers produce [{string.Join(", ", shape)}].");
            }

            switch (l.Type)
            {
                case "linear":
                {
                    int inF = Int("in_features"), outF = Int("out_features");
                    Expect(shape.Length >= 1 && shape[^1] == inF, $"[..., {inF}]");
                    modules?.Add(new Linear<T>(l.Name!, inF, outF, Bool("bias"), rng));
                    shape = [.. shape[..^1], outF];
                    break;
                }
                case "conv2d":
                {
                    int cin = Int("in_channels"), cout = Int("out_channels"), k = Int("kernel_size"), s = Int("stride", 1), p = Int("padding", 0);
                    Expect(shape.Length == 3 && shape[0] == cin && shape[1] + 2 * p >= k && shape[2] + 2 * p >= k, $"[{cin}, H, W] with H, W >= {k - 2 * p}");
                    modules?.Add(new Conv2d<T>(l.Name!, cin, cout, k, s, p, Bool("bias"), rng));
                    shape = [cout, (shape[1] + 2 * p - k) / s + 1, (shape[2] + 2 * p - k) / s + 1];
                    break;
                }
                case "maxpool2d" or "avgpool2d":
                {
                    int k = Int("kernel_size"), s = Int("stride", k);
                    Expect(shape.Length == 3 && shape[1] >= k && shape[2] >= k, $"[C, H, W] with H, W >= {k}");
                    modules?.Add(l.Type == "maxpool2d" ? new MaxPool2d<T>(k, s) : new AvgPool2d<T>(k, s));
                    shape = [shape[0], (shape[1] - k) / s + 1, (shape[2] - k) / s + 1];
                    break;
                }
                case "flatten":
                    modules?.Add(new Flatten<T>());
                    shape = [shape.Aggregate(1, (a, b) => a * b)];
                    break;
                case "relu": modules?.Add(new ReLU<T>()); break;
                case "tanh": modules?.Add(new Tanh<T>()); break;
                case "sigmoid": modules?.Add(new Sigmoid<T>()); break;
                case "gelu": modules?.Add(new GELU<T>()); break;
                case "sin": modules?.Add(new Sin<T>()); break;
                case "cos": modules?.Add(new Cos<T>()); break;
                case "exp": modules?.Add(new Exp<T>()); break;
                case "softplus":
                    // Only PyTorch's defaults: the stable log(1 + e^x) equals its beta 1, threshold 20 form to rounding.
                    foreach (var (key, value) in new[] { ("beta", 1.0), ("threshold", 20.0) })
                        if (l.Options.TryGetValue(key, out var el) && (el.ValueKind != JsonValueKind.Number || el.GetDouble() != value))
                            throw new CurvNativeFormatException(Path, null, $"{where}.{key} must be {value} (PyTorch's default), got {el.GetRawText()}.");
                    modules?.Add(new Softplus<T>());
                    break;
            }
        }
        return shape;
    }

    /// <summary>Per-sample output shape that the layers produce.</summary>
    public int[] OutputShape { get; private set; } = [];

    /// <summary>The loss the spec names.</summary>
    public Loss<T> BuildLoss<T>() where T : unmanaged, IFloatingPointIeee754<T> => LossType switch
    {
        null => throw new CurvNativeFormatException(Path, null, "the top level is missing 'loss'; this command needs a loss."),
        "cross_entropy" => new CrossEntropyLoss<T>(Reduction),
        "mse" => new MSELoss<T>(Reduction),
        _ => new BCEWithLogitsLoss<T>(Reduction),
    };

    private static JsonElement Require(JsonElement obj, string key, string path, string where)
    {
        if (obj.ValueKind != JsonValueKind.Object) throw new CurvNativeFormatException(path, null, $"{where} must be an object.");
        return obj.TryGetProperty(key, out var v) ? v : throw new CurvNativeFormatException(path, null, $"{where} is missing '{key}'.");
    }

    private static string Str(JsonElement e, string path, string where)
        => e.ValueKind == JsonValueKind.String ? e.GetString()! : throw new CurvNativeFormatException(path, null, $"{where} must be a string, got {e.GetRawText()}.");

    private static int[] IntArray(JsonElement e, string path, string where)
    {
        if (e.ValueKind != JsonValueKind.Array) throw new CurvNativeFormatException(path, null, $"{where} must be a list of integers, got {e.GetRawText()}.");
        return e.EnumerateArray().Select(x => x.ValueKind == JsonValueKind.Number && x.TryGetInt32(out var v) ? v
            : throw new CurvNativeFormatException(path, null, $"{where} must contain integers, got {x.GetRawText()}.")).ToArray();
    }
}
