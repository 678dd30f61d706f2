using System.Numerics;
using CurvNative.Autodiff;
using CurvNative.Tensors;

namespace CurvNative.NN.Modules;

/// <summary>y = x W^T + b with W of shape [out, in] (PyTorch's nn.Linear). Input [N, in] (or any
/// leading axes, flattened and restored). Default init: U(-1/sqrt(in), 1/sqrt(in)) as PyTorch.</summary>
public sealed class Linear<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public Linear(string name, int inFeatures, int outFeatures, bool bias = true, Random? rng = null)
    {
        if (inFeatures < 1 || outFeatures < 1) throw new ArgumentException($"Linear '{name}' needs positive sizes, got {inFeatures} -> {outFeatures}.");
        rng ??= new Random(0);
        InFeatures = inFeatures; OutFeatures = outFeatures;
        var bound = T.One / T.Sqrt(T.CreateTruncating(inFeatures));
        Weight = new Parameter<T>($"{name}.weight", Uniform(rng, bound, outFeatures, inFeatures));
        Bias = bias ? new Parameter<T>($"{name}.bias", Uniform(rng, bound, outFeatures)) : null;
    }

    public int InFeatures { get; }
    public int OutFeatures { get; }
    public Parameter<T> Weight { get; }
    public Parameter<T>? Bias { get; }

    protected override IEnumerable<Parameter<T>> OwnParameters() => Bias is null ? [Weight] : [Weight, Bias];

    protected override Var<T> ForwardCore(Var<T> x)
    {
        if (x.Rank < 1 || x.Shape[^1] != InFeatures)
            throw new ArgumentException($"Linear({InFeatures} -> {OutFeatures}) expects input [..., {InFeatures}] but got {Tensors.Shape.Format(x.Shape)}.");
        var lead = x.Shape[..^1].ToArray();
        var x2 = x.Rank == 2 ? x : F.Reshape(x, -1, InFeatures);
        var y = F.Linear(x2, Weight.Var, Bias?.Var);
        return x.Rank == 2 ? y : F.Reshape(y, [.. lead, OutFeatures]);
    }

    public override string ToString() => $"Linear({InFeatures} -> {OutFeatures}{(Bias is null ? ", no bias" : "")})";
}
