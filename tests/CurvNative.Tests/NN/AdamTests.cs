using CurvNative.Autodiff;
using CurvNative.NN.Modules;
using CurvNative.NN.Optim;
using CurvNative.Tensors;
using Xunit;

namespace CurvNative.Tests.NN;

/// <summary>Adam's shared moments (<see cref="AdamMoments"/>) against torch.optim.Adam's update written out, and the
/// two optimizers that use them.</summary>
public class AdamTests
{
    /// <summary>torch.optim.Adam (no weight decay, no amsgrad): exp_avg, exp_avg_sq, denom = sqrt(exp_avg_sq) /
    /// sqrt(bc2) + eps, p -= lr / bc1 * exp_avg / denom.</summary>
    private static double[] TorchAdam(double[] p, IReadOnlyList<double[]> grads, double lr, double b1, double b2, double eps)
    {
        p = (double[])p.Clone();
        var m = new double[p.Length]; var v = new double[p.Length];
        for (int t = 1; t <= grads.Count; t++)
            for (int i = 0; i < p.Length; i++)
            {
                double g = grads[t - 1][i];
                m[i] = b1 * m[i] + (1 - b1) * g;
                v[i] = b2 * v[i] + (1 - b2) * g * g;
                double denom = Math.Sqrt(v[i]) / Math.Sqrt(1 - Math.Pow(b2, t)) + eps;
                p[i] -= lr / (1 - Math.Pow(b1, t)) * m[i] / denom;
            }
        return p;
    }

    private static List<double[]> Gradients(int steps, int length, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, steps).Select(_ => Enumerable.Range(0, length).Select(_ => rng.NextDouble() * 4 - 2).ToArray()).ToList();
    }

    [Fact]
    public void MomentsFollowTorchAdam()
    {
        var grads = Gradients(6, 17, 1);
        var p0 = Enumerable.Range(0, 17).Select(i => 0.1 * i).ToArray();
        var expected = TorchAdam(p0, grads, 0.01, 0.8, 0.99, 1e-6);
        var moments = new AdamMoments(17, 0.8, 0.99, 1e-6);
        var p = (double[])p0.Clone();
        var direction = new double[17];
        foreach (var g in grads)
        {
            double factor = moments.Advance(g, direction);
            for (int i = 0; i < p.Length; i++) p[i] -= 0.01 * factor * direction[i];
        }
        Assert.Equal(6, moments.Steps);
        for (int i = 0; i < p.Length; i++) Assert.Equal(expected[i], p[i], 1e-14);
    }

    [Fact]
    public void LoadedMomentsContinueWhereTheyStopped()
    {
        var grads = Gradients(5, 9, 2);
        var whole = new AdamMoments(9);
        var d1 = new double[9];
        foreach (var g in grads) whole.Advance(g, d1);
        var first = new AdamMoments(9);
        var d2 = new double[9];
        foreach (var g in grads.Take(3)) first.Advance(g, d2);
        var resumed = new AdamMoments(9);
        resumed.Load(first.FirstMoment, first.SecondMoment, first.Steps);
        foreach (var g in grads.Skip(3)) resumed.Advance(g, d2);
        Assert.Equal(d1, d2);
        Assert.Equal(whole.SecondMoment, resumed.SecondMoment);
    }

    [Fact]
    public void BadSettingsAndLengthsAreRefused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new AdamMoments(3, beta1: 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new AdamMoments(3, eps: 0));
        var m = new AdamMoments(3);
        Assert.Throws<ArgumentException>(() => m.Advance(new double[2], new double[3]));
        Assert.Throws<ArgumentException>(() => m.Load(new double[3], new double[4], 1));
    }

    [Fact]
    public void AdamOnParametersFollowsTorchAdam()
    {
        var w = new Parameter<double>("w", Tensor<double>.FromArray([0.5, -1.0, 2.0], 3));
        var adam = new Adam<double>([w], lr: 0.05);
        var grads = Gradients(4, 3, 3);
        var expected = TorchAdam([0.5, -1.0, 2.0], grads, 0.05, 0.9, 0.999, 1e-8);
        foreach (var g in grads) adam.Step([Var<double>.Constant(Tensor<double>.FromArray(g, 3))]);
        for (int i = 0; i < 3; i++) Assert.Equal(expected[i], w.Value.Span[i], 1e-14);
    }
}
