using System.Numerics;
using CurvNative.Autodiff;
using CurvNative.Tensors;

namespace CurvNative.NN.Modules;

/// <summary>LayerNorm over the last axis: (x - mean) / sqrt(var + eps) * weight + bias, with the
/// biased variance as PyTorch. Parameters weight (ones) and bias (zeros) of shape [features].</summary>
public sealed class LayerNorm<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public LayerNorm(string name, int features, double eps = 1e-5, bool elementwiseAffine = true)
    {
        Features = features; Eps = eps;
        if (elementwiseAffine)
        {
            Weight = new Parameter<T>($"{name}.weight", Tensor<T>.Full(T.One, features));
            Bias = new Parameter<T>($"{name}.bias", Tensor<T>.Zeros(features));
        }
    }

    public int Features { get; }
    public double Eps { get; }
    public Parameter<T>? Weight { get; }
    public Parameter<T>? Bias { get; }

    protected override IEnumerable<Parameter<T>> OwnParameters() => Weight is null ? [] : [Weight, Bias!];

    protected override Var<T> ForwardCore(Var<T> x)
    {
        if (x.Rank < 1 || x.Shape[^1] != Features)
            throw new ArgumentException($"LayerNorm({Features}) expects input [..., {Features}] but got {Shape.Format(x.Shape)}.");
        var centered = F.Sub(x, F.Mean(x, [-1], keepDims: true));
        var variance = F.Mean(F.Square(centered), [-1], keepDims: true);
        var y = F.Div(centered, F.Sqrt(F.AddScalar(variance, T.CreateTruncating(Eps))));
        return Weight is null ? y : F.Add(F.Mul(y, Weight.Var), Bias!.Var);
    }
}

/// <summary>
/// BatchNorm2d on [N, C, H, W]. Training mode normalises with the batch's biased statistics and
/// updates running_mean/running_var (unbiased variance) with momentum 0.1; eval mode uses the
/// running statistics. Parameters weight (ones) and bias (zeros) of shape [C].
/// </summary>
public sealed class BatchNorm2d<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public BatchNorm2d(string name, int channels, double eps = 1e-5, double momentum = 0.1)
    {
        Channels = channels; Eps = eps; Momentum = momentum;
        Weight = new Parameter<T>($"{name}.weight", Tensor<T>.Full(T.One, channels));
        Bias = new Parameter<T>($"{name}.bias", Tensor<T>.Zeros(channels));
        RunningMean = Tensor<T>.Zeros(channels);
        RunningVar = Tensor<T>.Full(T.One, channels);
    }

    public int Channels { get; }
    public double Eps { get; }
    public double Momentum { get; }
    public Parameter<T> Weight { get; }
    public Parameter<T> Bias { get; }
    public Tensor<T> RunningMean { get; }
    public Tensor<T> RunningVar { get; }

    protected override IEnumerable<Parameter<T>> OwnParameters() => [Weight, Bias];

    protected override Var<T> ForwardCore(Var<T> x)
    {
        CheckRank(x, 4, "BatchNorm2d", "[N, C, H, W]");
        if (x.Shape[1] != Channels) throw new ArgumentException($"BatchNorm2d({Channels}) expects input [N, {Channels}, H, W] but got {Shape.Format(x.Shape)}.");
        int[] axes = [0, 2, 3];
        Var<T> mean, variance;
        if (Training)
        {
            int count = x.Shape[0] * x.Shape[2] * x.Shape[3];
            if (count < 2) throw new ArgumentException($"BatchNorm2d in training mode needs more than one value per channel, got input {Shape.Format(x.Shape)}.");
            mean = F.Mean(x, axes, keepDims: true);
            variance = F.Mean(F.Square(F.Sub(x, mean)), axes, keepDims: true);
            UpdateRunning(mean.Value, variance.Value, count);
        }
        else
        {
            mean = Var<T>.Constant(RunningMean.Reshape(1, Channels, 1, 1));
            variance = Var<T>.Constant(RunningVar.Reshape(1, Channels, 1, 1));
        }
        var y = F.Div(F.Sub(x, mean), F.Sqrt(F.AddScalar(variance, T.CreateTruncating(Eps))));
        return F.Add(F.Mul(y, F.Reshape(Weight.Var, 1, Channels, 1, 1)), F.Reshape(Bias.Var, 1, Channels, 1, 1));
    }

    private void UpdateRunning(Tensor<T> mean, Tensor<T> variance, int count)
    {
        var m = T.CreateTruncating(Momentum);
        var unbias = T.CreateTruncating(count / (double)(count - 1));
        for (int c = 0; c < Channels; c++)
        {
            RunningMean.Span[c] = (T.One - m) * RunningMean.Span[c] + m * mean.Span[c];
            RunningVar.Span[c] = (T.One - m) * RunningVar.Span[c] + m * variance.Span[c] * unbias;
        }
    }
}

/// <summary>Dropout: in training mode zeroes each element with probability p and scales the
/// rest by 1/(1-p); identity in eval mode. Seeded, so a run is reproducible.</summary>
public sealed class Dropout<T>(double p = 0.5, int seed = 0) : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Random _rng = new(seed);
    public double P { get; } = p is >= 0 and < 1 ? p : throw new ArgumentOutOfRangeException(nameof(p), $"Dropout probability must be in [0, 1), got {p}.");

    protected override Var<T> ForwardCore(Var<T> x)
    {
        if (!Training || P == 0) return x;
        var mask = Tensor<T>.Zeros(x.Value.ShapeArray);
        var keep = T.CreateTruncating(1 / (1 - P));
        var s = mask.Span;
        for (int i = 0; i < s.Length; i++) s[i] = _rng.NextDouble() >= P ? keep : T.Zero;
        return F.Mul(x, Var<T>.Constant(mask));
    }
}
