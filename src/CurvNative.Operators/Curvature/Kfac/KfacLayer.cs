using System.Numerics;
using CurvNative.Native;
using CurvNative.NN.Modules;
using CurvNative.Tensors;

namespace CurvNative.Operators.Curvature.Kfac;

/// <summary>
/// One Kronecker-factored layer (Linear or Conv2d) and the parameters of it that the operator
/// covers. Turns the layer's input and output gradient into matrices of rows
/// [rows, D] and [rows, O] in "weight-sharing format": for Linear D = in_features and one row per
/// sample (and per position of extra leading axes); for Conv2d D = C_in k k (im2col patches) and
/// one row per sample and output position (expand) or per sample (reduce).
/// </summary>
public sealed class KfacLayer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    internal KfacLayer(Module<T> module, Parameter<T>? weight, Parameter<T>? bias, bool joint)
    {
        Module = module; Weight = weight; Bias = bias;
        (InDim, OutDim) = module switch
        {
            Linear<T> l => (l.InFeatures, l.OutFeatures),
            Conv2d<T> c => (c.InChannels * c.KernelSize * c.KernelSize, c.OutChannels),
            _ => throw new ArgumentException($"KFAC supports Linear and Conv2d layers, not {module}."),
        };
        Joint = joint && weight is not null && bias is not null;
    }

    public Module<T> Module { get; }

    /// <summary>The weight if it is among the operator's parameters.</summary>
    public Parameter<T>? Weight { get; }

    /// <summary>The bias if it is among the operator's parameters.</summary>
    public Parameter<T>? Bias { get; }

    /// <summary>D: the input dimension of the weight viewed as a matrix [O, D].</summary>
    public int InDim { get; }

    /// <summary>O: the number of outputs (rows of the weight).</summary>
    public int OutDim { get; }

    /// <summary>Weight and bias share one block G ⊗ A_aug (A augmented by a ones coordinate).</summary>
    public bool Joint { get; }

    /// <summary>Dimension of A: D, or D + 1 for a joint block.</summary>
    public int FactorInDim => Joint ? InDim + 1 : InDim;

    /// <summary>Input rows [rows, FactorInDim] and the number of shared positions S they came from
    /// (S = 1 for reduce and for plain Linear inputs).</summary>
    internal (Tensor<T> Rows, int Shared) InputRows(Tensor<T> x, KfacApproximation approx)
    {
        int n = x.Shape[0];
        Tensor<T> rows; int shared;
        if (Module is Conv2d<T> c)
        {
            var g = Conv2dGeometry.Create(n, c.InChannels, x.Shape[2], x.Shape[3], c.OutChannels, c.KernelSize, c.Stride, c.Padding);
            shared = g.OutHeight * g.OutWidth;
            var cols = Tensor<T>.Zeros(n, InDim, shared);
            NativeKernels.Unfold(g, x.Span, cols.Span);
            rows = TensorOps.Permute(cols, [0, 2, 1]).Reshape(n * shared, InDim); // one patch per row
        }
        else
        {
            shared = n == 0 ? 1 : x.Length / (n * InDim);
            rows = x.Reshape(n * shared, InDim);
        }
        if (approx == KfacApproximation.Reduce && shared > 1)
        {
            rows = TensorOps.SumTo(rows.Reshape(n, shared, InDim), [n, 1, InDim]).Reshape(n, InDim);
            rows = TensorOps.Affine(rows, T.One / T.CreateTruncating(shared), T.Zero); // mean over positions
            shared = 1;
        }
        return (Joint ? AppendOnes(rows) : rows, shared);
    }

    /// <summary>Output-gradient rows [rows, O]: expand keeps one row per position, reduce sums them.</summary>
    internal Tensor<T> GradientRows(Tensor<T> g, KfacApproximation approx)
    {
        int n = g.Shape[0];
        Tensor<T> rows; int shared;
        if (Module is Conv2d<T>)
        {
            shared = g.Shape[2] * g.Shape[3];
            rows = TensorOps.Permute(g.Reshape(n, OutDim, shared), [0, 2, 1]).Reshape(n * shared, OutDim);
        }
        else
        {
            shared = n == 0 ? 1 : g.Length / (n * OutDim);
            rows = g.Reshape(n * shared, OutDim);
        }
        if (approx == KfacApproximation.Reduce && shared > 1)
            rows = TensorOps.SumTo(rows.Reshape(n, shared, OutDim), [n, 1, OutDim]).Reshape(n, OutDim);
        return rows;
    }

    private static Tensor<T> AppendOnes(Tensor<T> rows)
    {
        int r = rows.Shape[0], d = rows.Shape[1];
        var result = Tensor<T>.Zeros(r, d + 1);
        for (int i = 0; i < r; i++)
        {
            rows.Span.Slice(i * d, d).CopyTo(result.Span.Slice(i * (d + 1), d));
            result.Span[i * (d + 1) + d] = T.One;
        }
        return result;
    }

    public override string ToString() => $"{Module} [{string.Join(", ", new[] { Weight?.Name, Bias?.Name }.Where(n => n is not null))}]";
}
