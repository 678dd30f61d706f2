using System.Numerics;
using CurvNative.Autodiff;
using CurvNative.NN.Data;
using CurvNative.Tensors;

namespace CurvNative.NN.Losses;

/// <summary>
/// Cross-entropy with class indices on logits [N, C], as nn.CrossEntropyLoss:
/// l_n = logsumexp(f_n) - f_{n, y_n}; mean divides by N. Hessian diag(p) - p p^T with p = softmax(f_n), of rank
/// C - 1 (p is in its null space), and a factor R [C, C - 1] of that rank (see <see cref="SampleHessianSqrt"/>).
/// </summary>
public sealed class CrossEntropyLoss<T>(Reduction reduction = Reduction.Mean) : Loss<T>(reduction) where T : unmanaged, IFloatingPointIeee754<T>
{
    public override double ReductionFactor(int samples, int outputsPerSample) => Reduction == Reduction.Sum ? 1 : 1.0 / samples;

    protected override void Validate(Tensor<T> output, Targets<T> target)
    {
        if (output.Rank != 2) throw new ArgumentException($"CrossEntropyLoss expects logits [N, C], got {Shape.Format(output.Shape)}.");
        if (!target.IsClassIndices) throw new ArgumentException($"CrossEntropyLoss expects class indices, got target values of shape {Shape.Format(target.Values!.Shape)}.");
        if (output.Shape[0] != target.Count) throw new ArgumentException($"CrossEntropyLoss: logits {Shape.Format(output.Shape)} but {target.Count} targets.");
        int c = output.Shape[1];
        foreach (var y in target.ClassIndices)
            if ((uint)y >= (uint)c) throw new ArgumentException($"CrossEntropyLoss: class index {y} is outside [0, {c}).");
    }

    protected override Var<T> ForwardCore(Var<T> output, Targets<T> target)
    {
        int n = output.Shape[0], c = output.Shape[1];
        var idx = new int[n];
        var classes = target.ClassIndices;
        for (int i = 0; i < n; i++) idx[i] = i * c + classes[i];
        var picked = F.GatherFlat(F.LogSoftmax(output), idx, [n]);
        return F.Scale(F.Sum(picked), -Factor(output.Value));
    }

    private static Tensor<T> Probabilities(Tensor<T> output) => TensorOps.Unary(TensorOps.LogSoftmax(output), TensorOps.UnaryKind.Exp);

    public override Tensor<T> SampleHessian(Tensor<T> output, Targets<T> target)
    {
        var p = Probabilities(output);
        int n = output.Shape[0], c = output.Shape[1];
        var h = Tensor<T>.Zeros(n, c, c);
        for (int i = 0; i < n; i++)
            for (int a = 0; a < c; a++)
                for (int b = 0; b < c; b++)
                    h.Span[(i * c + a) * c + b] = (a == b ? p.Span[i * c + a] : T.Zero) - p.Span[i * c + a] * p.Span[i * c + b];
        return h;
    }

    /// <summary>
    /// R_n = diag(s) Q with s = sqrt(p): Q [C, C - 1] is the Householder reflector I - 2 v v^T / (v^T v),
    /// v = s + e_m (m the most probable class), without its column m. The reflector maps s to -e_m, so its other
    /// columns are an orthonormal basis of s's complement, Q Q^T = I - s s^T, and R R^T = diag(p) - p p^T with
    /// C - 1 columns, the Hessian's rank. The symmetric factor diag(s) - p s^T has C columns; one column less is
    /// one backpropagation less per sample for type-2 KFAC and the GGN (a tenth of it for 10 classes).
    /// </summary>
    public override Tensor<T> SampleHessianSqrt(Tensor<T> output, Targets<T> target)
    {
        var p = Probabilities(output);
        int n = output.Shape[0], c = output.Shape[1], k = Math.Max(c - 1, 0);
        var r = Tensor<T>.Zeros(n, c, k);
        ReadOnlySpan<T> ps = p.Span;
        var rs = r.Span;
        var sq = new T[c]; var v = new T[c];
        for (int i = 0; i < n; i++)
        {
            int m = 0;
            for (int a = 0; a < c; a++)
            {
                sq[a] = T.Sqrt(ps[i * c + a]);
                if (sq[a] > sq[m]) m = a;
            }
            sq.CopyTo(v, 0);
            v[m] += T.One;
            T norm2 = T.Zero;
            foreach (var x in v) norm2 += x * x;
            T h = T.CreateTruncating(2) / norm2; // v^T v = 2 + 2 s_m >= 2: no cancellation
            for (int a = 0; a < c; a++)
                for (int j = 0, col = 0; j < c; j++)
                {
                    if (j == m) continue;
                    rs[(i * c + a) * k + col++] = sq[a] * ((a == j ? T.One : T.Zero) - h * v[a] * v[j]);
                }
        }
        return r;
    }

    public override Tensor<T> SampleGradients(Tensor<T> output, Targets<T> target)
    {
        Validate(output, target);
        var g = Probabilities(output);
        int c = output.Shape[1];
        var classes = target.ClassIndices;
        for (int i = 0; i < classes.Length; i++) g.Span[i * c + classes[i]] -= T.One;
        return g;
    }

    public override Tensor<T> SampledGradients(Tensor<T> output, Func<int, Random> rowRandom)
    {
        var g = Probabilities(output);
        int n = output.Shape[0], c = output.Shape[1];
        for (int i = 0; i < n; i++)
        {
            double u = rowRandom(i).NextDouble(), acc = 0;
            int y = c - 1;
            for (int k = 0; k < c; k++) { acc += double.CreateTruncating(g.Span[i * c + k]); if (u < acc) { y = k; break; } }
            g.Span[i * c + y] -= T.One;
        }
        return g;
    }
}

/// <summary>
/// Mean squared error as nn.MSELoss: l_n = sum_c (f_nc - y_nc)^2; mean divides by N C.
/// Hessian 2 I, factor sqrt(2) I; sampled gradients sqrt(2) z with z ~ N(0, I) (targets y ~ N(f, I/2)).
/// </summary>
public sealed class MSELoss<T>(Reduction reduction = Reduction.Mean) : Loss<T>(reduction) where T : unmanaged, IFloatingPointIeee754<T>
{
    public override double ReductionFactor(int samples, int outputsPerSample) => Reduction == Reduction.Sum ? 1 : 1.0 / ((double)samples * outputsPerSample);

    protected override Var<T> ForwardCore(Var<T> output, Targets<T> target)
    {
        var d = F.Sub(output, Var<T>.Constant(target.Values!));
        return F.Scale(F.Sum(F.Mul(d, d)), Factor(output.Value));
    }

    private static Tensor<T> ScaledIdentity(Tensor<T> output, T value)
    {
        int n = output.Shape[0], c = PerSample(output);
        var r = Tensor<T>.Zeros(n, c, c);
        for (int i = 0; i < n; i++)
            for (int a = 0; a < c; a++) r.Span[(i * c + a) * c + a] = value;
        return r;
    }

    public override Tensor<T> SampleHessian(Tensor<T> output, Targets<T> target) => ScaledIdentity(output, T.CreateTruncating(2));

    public override Tensor<T> SampleHessianSqrt(Tensor<T> output, Targets<T> target) => ScaledIdentity(output, T.Sqrt(T.CreateTruncating(2)));

    public override Tensor<T> SampleGradients(Tensor<T> output, Targets<T> target)
    {
        Validate(output, target);
        var g = TensorOps.Binary(output, target.Values!, TensorOps.BinaryKind.Subtract);
        return TensorOps.Affine(g, T.CreateTruncating(2), T.Zero).Reshape(output.Shape[0], PerSample(output));
    }

    public override Tensor<T> SampledGradients(Tensor<T> output, Func<int, Random> rowRandom)
    {
        var g = Tensor<T>.Zeros(output.Shape[0], PerSample(output));
        int c = g.Shape[1];
        for (int i = 0; i < g.Length; i++) g.Span[i] = T.CreateTruncating(Math.Sqrt(2) * Gaussian(rowRandom(i / c)));
        return g;
    }
}

/// <summary>
/// Binary cross-entropy on logits as nn.BCEWithLogitsLoss: l_n = sum_c softplus(f_nc) - y_nc f_nc
/// (stable for large |f|); mean divides by N C. Hessian diag(s(1-s)) with s = sigmoid(f).
/// </summary>
public sealed class BCEWithLogitsLoss<T>(Reduction reduction = Reduction.Mean) : Loss<T>(reduction) where T : unmanaged, IFloatingPointIeee754<T>
{
    public override double ReductionFactor(int samples, int outputsPerSample) => Reduction == Reduction.Sum ? 1 : 1.0 / ((double)samples * outputsPerSample);

    protected override Var<T> ForwardCore(Var<T> output, Targets<T> target)
    {
        var y = Var<T>.Constant(target.Values!);
        return F.Scale(F.Sum(F.Sub(F.Softplus(output), F.Mul(y, output))), Factor(output.Value));
    }

    private static Tensor<T> Curvature(Tensor<T> output)
    {
        var s = TensorOps.Unary(output, TensorOps.UnaryKind.Sigmoid);
        var d = Tensor<T>.Zeros(output.Shape[0], PerSample(output));
        for (int i = 0; i < d.Length; i++) d.Span[i] = s.Span[i] * (T.One - s.Span[i]);
        return d;
    }

    public override Tensor<T> SampleHessian(Tensor<T> output, Targets<T> target) => Diagonal(Curvature(output));

    public override Tensor<T> SampleHessianSqrt(Tensor<T> output, Targets<T> target)
        => Diagonal(TensorOps.Unary(Curvature(output), TensorOps.UnaryKind.Sqrt));

    public override Tensor<T> SampleGradients(Tensor<T> output, Targets<T> target)
    {
        Validate(output, target);
        var s = TensorOps.Unary(output, TensorOps.UnaryKind.Sigmoid);
        return TensorOps.Binary(s, target.Values!, TensorOps.BinaryKind.Subtract).Reshape(output.Shape[0], PerSample(output));
    }

    public override Tensor<T> SampledGradients(Tensor<T> output, Func<int, Random> rowRandom)
    {
        var s = TensorOps.Unary(output, TensorOps.UnaryKind.Sigmoid).Reshape(output.Shape[0], PerSample(output));
        int c = s.Shape[1];
        for (int i = 0; i < s.Length; i++)
            if (rowRandom(i / c).NextDouble() < double.CreateTruncating(s.Span[i])) s.Span[i] -= T.One;
        return s;
    }
}
