using CurvNative.NN.Modules;

namespace CurvNative.Pinn.Training;

/// <summary>The PINN network: a tanh MLP D -> h_1 -> ... -> h_k -> 1.</summary>
public static class PinnNetwork
{
    /// <summary>
    /// The MLP with PyTorch's default initialisation (seeded). Layers are named by their index in the sequence
    /// ("0", "2", ...), as a model.json spec names them, so the weights file written from it loads through the spec.
    /// </summary>
    public static Sequential<double> Mlp(int inputs, IReadOnlyList<int> hidden, int seed)
    {
        ArgumentNullException.ThrowIfNull(hidden);
        if (inputs < 1) throw new ArgumentOutOfRangeException(nameof(inputs), $"The input width must be positive, got {inputs}.");
        if (hidden.Any(h => h < 1)) throw new ArgumentException($"Hidden widths must be positive, got [{string.Join(", ", hidden)}].");
        var rng = new Random(seed);
        var layers = new List<Module<double>>();
        int width = inputs;
        foreach (var h in hidden)
        {
            layers.Add(new Linear<double>(layers.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), width, h, true, rng));
            layers.Add(new Tanh<double>());
            width = h;
        }
        layers.Add(new Linear<double>(layers.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), width, 1, true, rng));
        return new Sequential<double>([.. layers]);
    }

    /// <summary>The network's spec in the model.json contract (input_shape, linear and tanh layers, an mse loss so
    /// that every command accepts it).</summary>
    public static string SpecJson(int inputs, IReadOnlyList<int> hidden)
    {
        ArgumentNullException.ThrowIfNull(hidden);
        var layers = new List<string>();
        int width = inputs;
        foreach (var h in hidden)
        {
            layers.Add($"    {{\"type\": \"linear\", \"name\": \"{layers.Count}\", \"in_features\": {width}, \"out_features\": {h}}}");
            layers.Add("    {\"type\": \"tanh\"}");
            width = h;
        }
        layers.Add($"    {{\"type\": \"linear\", \"name\": \"{layers.Count}\", \"in_features\": {width}, \"out_features\": 1}}");
        return $"{{\n  \"input_shape\": [{inputs}],\n  \"layers\": [\n{string.Join(",\n", layers)}\n  ],\n  \"loss\": {{\"type\": \"mse\"}}\n}}\n";
    }
}
